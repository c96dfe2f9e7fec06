"""Split brain: two project hosts (two Ray actors, two processes) both believe they
own one project and take writes for it at the same time. Each activation takes a
new epoch, so the other's next commit is rejected (`Fenced`) and nothing of it
lands; the router retries it with the same idempotency key. The final state has
every acknowledged change exactly once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import ray

from actors.host import ProjectHost
from actors.router import HostRouter
from cluster.stack import Stack
from domain.commands import CreateTask, IdempotencyKey
from tests.integration.conftest import User, create_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]


def _host(database_url: str, redis_url: str) -> Any:
    name = f"split-brain-{uuid.uuid4().hex[:6]}"
    return (
        ray.remote(ProjectHost)
        .options(max_restarts=0, max_concurrency=1000, num_cpus=0)
        .remote(name, database_url, redis_url, idle_seconds=600, pool_size=4)
    )


def _count(families: list[dict[str, Any]], name: str, **labels: str) -> float:
    return float(
        sum(
            value
            for family in families
            for sample, got, value in family["samples"]
            if sample == name and all(got.get(k) == v for k, v in labels.items())
        )
    )


async def test_two_owners_of_one_project_lose_and_duplicate_nothing(
    stack: Stack, client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    project = await create_project(client, alice)
    pid, org, user = uuid.UUID(project["id"]), uuid.UUID(alice.org_id), uuid.UUID(alice.id)
    hosts = [_host(stack.database_url, stack.redis_url or "") for _ in range(2)]
    routers = [HostRouter({"h": h}) for h in hosts]
    acknowledged: dict[str, str] = {}

    async def write(n: int) -> None:
        key = IdempotencyKey(org, user, f"split-{n}-{uuid.uuid4().hex[:6]}", f"hash-{n}")
        command = CreateTask(user, {"title": f"t{n}"}, idempotency=key)
        # Alternate owners so both keep re-activating and fencing each other.
        reply = await routers[n % 2].call(pid, "apply", org, pid, command, key)
        assert reply.status == 201
        acknowledged[key.key] = reply.body["id"]
        # The same key again, on the other owner: the first reply, not a second task.
        again = await routers[(n + 1) % 2].call(pid, "apply", org, pid, command, key)
        assert again.body["id"] == reply.body["id"]

    try:
        for wave in range(10):
            await asyncio.gather(*(write(wave * 8 + i) for i in range(8)))
        metrics = [await h.metrics.remote() for h in hosts]
    finally:
        for h in hosts:
            ray.kill(h)

    # Fencing really happened: both owners re-activated after the other's epoch won.
    for families in metrics:
        assert _count(families, "taskhive_grain_activations_total") >= 2
    assert (
        sum(_count(f, "taskhive_grain_passivations_total", reason="fenced") for f in metrics) >= 2
    )

    rows = await db.fetch(
        "SELECT id, number, title FROM tasks WHERE project_id = $1 ORDER BY number", pid
    )
    assert len(rows) == len(acknowledged) == 80, "a change was lost or duplicated"
    assert {str(r["id"]) for r in rows} == set(acknowledged.values())
    assert [r["number"] for r in rows] == list(range(1, 81))
    assert len({r["title"] for r in rows}) == 80
    version = await db.fetchval("SELECT version FROM projects WHERE id = $1", pid)
    versions = [
        r["version"]
        for r in await db.fetch(
            "SELECT version FROM events WHERE project_id = $1 ORDER BY version", pid
        )
    ]
    assert versions == list(range(1, version + 1)), "event versions must be gap-free"
