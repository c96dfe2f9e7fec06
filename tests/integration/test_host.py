"""A project host outside Ray: activation, tenant fence, passivation of idle grains."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import httpx
import pytest

from actors.grain import TaskQuery
from actors.host import ProjectHost
from domain.commands import CreateTask, IdempotencyKey
from domain.errors import NotFound
from tests.integration.conftest import User, create_task


async def test_idle_grains_passivate_and_reactivate_from_postgres(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], database_url: str
) -> None:
    task = await create_task(client, alice, project["id"], title="remember me")
    org, pid, tid = uuid.UUID(alice.org_id), uuid.UUID(project["id"]), uuid.UUID(task["id"])
    host = ProjectHost("test-host", database_url, None, idle_seconds=0.3)
    try:
        first = await host.get_task(org, pid, tid)
        assert first == task
        assert (await host.stats())["grains"] == 1

        for _ in range(50):
            await asyncio.sleep(0.1)
            if (await host.stats())["grains"] == 0:
                break
        assert (await host.stats())["grains"] == 0, "an idle grain was not passivated"

        assert await host.get_task(org, pid, tid) == task
        items, after = await host.list_tasks(org, pid, TaskQuery())
        assert [t["id"] for t in items] == [task["id"]] and after is None
    finally:
        await host.close()


async def test_host_answers_404_to_another_organisation(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], database_url: str
) -> None:
    task = await create_task(client, alice, project["id"])
    pid, tid = uuid.UUID(project["id"]), uuid.UUID(task["id"])
    host = ProjectHost("test-host-2", database_url, None)
    try:
        with pytest.raises(NotFound):
            await host.get_task(uuid.uuid4(), pid, tid)
        with pytest.raises(NotFound):
            await host.get_project(uuid.uuid4(), pid)
        with pytest.raises(NotFound):
            await host.get_task(uuid.UUID(alice.org_id), uuid.uuid4(), tid)
    finally:
        await host.close()


async def test_a_retried_write_is_answered_from_its_first_commit(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], database_url: str, db
) -> None:
    """The replica makes a key for every write and marks it `first_attempt` so the
    grain skips the lookup; a retry (after a lost reply) clears the mark and must
    get the first reply back instead of writing again."""
    org, pid, actor = uuid.UUID(alice.org_id), uuid.UUID(project["id"]), uuid.UUID(alice.id)
    key = IdempotencyKey(org, actor, f"~{uuid.uuid4().hex}", "hash", first_attempt=True)
    host = ProjectHost("test-host-3", database_url, None)
    try:
        command = CreateTask(actor, {"title": "exactly once"})
        first = await host.apply(org, pid, command, key)
        retry = await host.apply(org, pid, command, dataclasses.replace(key, first_attempt=False))
        assert retry.body == first.body and retry.replayed
    finally:
        await host.close()
    count = await db.fetchval(
        "SELECT count(*) FROM tasks WHERE project_id = $1 AND title = 'exactly once'", pid
    )
    assert count == 1
