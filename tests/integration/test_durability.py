"""No acknowledged write is lost when a project host is killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import ray

from actors.placement import host_for, host_names
from actors.router import NAMESPACE
from tests.integration.conftest import User, create_project

pytestmark = pytest.mark.slow


async def test_kill_9_of_the_owning_host_loses_no_acknowledged_write(
    client: httpx.AsyncClient, alice: User, db: asyncpg.Connection
) -> None:
    project: dict[str, Any] = await create_project(client, alice)
    pid = uuid.UUID(project["id"])
    owner = ray.get_actor(host_for(pid, host_names(2)), namespace=NAMESPACE)
    before = await owner.stats.remote()

    acknowledged: list[str] = []
    failures: list[int] = []
    killed_at: float | None = None
    first_ok_after_kill: float | None = None
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        nonlocal first_ok_after_kill
        i = 0
        while not stop.is_set():
            i += 1
            r = await client.post(
                "/api/v1/tasks",
                json={"project_id": project["id"], "title": f"w{n}-{i}"},
                headers={**alice.headers, "Idempotency-Key": f"w{n}-{i}-{uuid.uuid4()}"},
            )
            if r.status_code == 201:
                acknowledged.append(r.json()["id"])
                if killed_at is not None and first_ok_after_kill is None:
                    first_ok_after_kill = time.monotonic()
            else:
                failures.append(r.status_code)

    writers = [asyncio.create_task(writer(n)) for n in range(4)]
    await asyncio.sleep(1.5)
    os.kill(before["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    count_at_kill = len(acknowledged)
    deadline = killed_at + 20
    while (
        first_ok_after_kill is None or len(acknowledged) < count_at_kill + 20
    ) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*writers)

    after = await owner.stats.remote()
    assert after["pid"] != before["pid"], "the host was not restarted"
    assert first_ok_after_kill is not None, "writes did not resume"
    assert first_ok_after_kill - killed_at < 10.0
    assert count_at_kill > 0 and len(acknowledged) > count_at_kill
    assert set(failures) <= {503}, failures  # never a 500 or a lost ack
    stored = {r["id"] for r in await db.fetch("SELECT id FROM tasks WHERE project_id = $1", pid)}
    missing = {uuid.UUID(a) for a in acknowledged} - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"
    numbers = [
        r["number"]
        for r in await db.fetch(
            "SELECT number FROM tasks WHERE project_id = $1 ORDER BY number", pid
        )
    ]
    assert numbers == list(range(1, len(numbers) + 1)), "task numbers must have no gaps or repeats"
