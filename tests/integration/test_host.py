"""A project host outside Ray: activation, tenant fence, passivation of idle grains."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
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
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    db: asyncpg.Connection,
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


async def test_a_read_before_the_grain_is_active_comes_from_the_database(
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    db: asyncpg.Connection,
) -> None:
    """The first read of a project not in memory is answered from its row while the
    grain activates behind it, byte for byte what the grain answers afterwards;
    the tenant fence and missing tasks still answer 404."""
    task = await create_task(client, alice, project["id"], title="read me first")
    org, pid, tid = uuid.UUID(alice.org_id), uuid.UUID(project["id"]), uuid.UUID(task["id"])
    host = ProjectHost("test-host-4", database_url, None)
    try:
        async with db.transaction():  # the activation's epoch update waits for this lock
            await db.execute("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", pid)
            version, body = await host.get_task_json(org, pid, tid)
            activation = host._grains[pid]
            assert not activation.done()
        await activation
        assert (await host.get_task_json(org, pid, tid)) == (version, body)
        assert orjson.loads(body) == task and version == task["version"]

        with pytest.raises(NotFound):  # another organisation, while not in memory
            await host.get_task_json(uuid.uuid4(), uuid.UUID(project["id"]), tid)
    finally:
        await host.close()
    host = ProjectHost("test-host-5", database_url, None)
    try:
        with pytest.raises(NotFound):
            await host.get_task_json(org, pid, uuid.uuid4())
        with pytest.raises(NotFound):
            await host.get_task_json(uuid.uuid4(), pid, tid)
    finally:
        await host.close()
