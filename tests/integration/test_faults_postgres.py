"""PostgreSQL restarted under write load: fast 503s during the outage, writes resume
after it, and nothing is half-written or lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from cluster.stack import Stack
from tests.integration.conftest import create_project, signup
from tests.integration.fault_helpers import fault_stack, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]


@dataclass
class Outcome:
    status: int
    seconds: float
    retry_after: str | None
    at: float


@dataclass
class Writers:
    acknowledged: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


async def test_postgres_restart_under_load(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fault_stack(tmp_path, monkeypatch) as fs:
        client = fs.client
        user = await signup(client)
        project = await create_project(client, user)
        writers = Writers()
        stop = asyncio.Event()

        async def writer(n: int) -> None:
            i = 0
            key = ""
            while not stop.is_set():
                if not key:  # a new write; a refused one is retried with its key
                    i += 1
                    key = f"w{n}-{i}-{uuid.uuid4().hex[:8]}"
                    writers.keys.add(key)
                started = time.monotonic()
                r = await client.post(
                    "/api/v1/tasks",
                    json={"project_id": project["id"], "title": f"w{n}-{i}"},
                    headers={**user.headers, "Idempotency-Key": key},
                )
                writers.outcomes.append(
                    Outcome(
                        r.status_code,
                        time.monotonic() - started,
                        r.headers.get("retry-after"),
                        started,
                    )
                )
                if r.status_code == 201:
                    writers.acknowledged.append(r.json()["id"])
                    key = ""
                else:
                    assert r.headers["content-type"] == "application/problem+json", r.text
                    await asyncio.sleep(0.1)

        tasks = [asyncio.create_task(writer(n)) for n in range(4)]
        await wait_for(lambda: len(writers.acknowledged) >= 20, 30, "writes before the outage")

        await asyncio.to_thread(fs.postgres.stop)
        down_at = time.monotonic()
        await asyncio.sleep(3.0)  # the outage, under load
        await asyncio.to_thread(fs.postgres.start)
        up_at = time.monotonic()
        count_at_restart = len(writers.acknowledged)
        resumed = await wait_for(
            lambda: len(writers.acknowledged) >= count_at_restart + 20, 30, "writes after restart"
        )
        stop.set()
        await asyncio.gather(*tasks)

        statuses = {o.status for o in writers.outcomes}
        assert statuses <= {201, 503}, statuses  # never a 500
        during = [o for o in writers.outcomes if down_at + 0.5 < o.at < up_at - 0.5]
        refused = [o for o in during if o.status == 503]
        assert refused, "no request saw the outage"
        assert all(o.retry_after and int(o.retry_after) >= 1 for o in refused)
        slowest = max(o.seconds for o in refused)
        assert slowest < 2.0, f"a 503 took {slowest:.2f} s: not fast"
        assert resumed < 15.0, f"writes resumed {resumed:.1f} s after PostgreSQL came back"
        print(
            f"postgres outage: {len(refused)} writes refused with 503, slowest "
            f"{slowest * 1000:.0f} ms; writes resumed {resumed:.1f} s after restart; "
            f"{len(writers.acknowledged)} acknowledged"
        )

        conn = await asyncpg.connect(fs.database_url)
        try:
            pid = uuid.UUID(project["id"])
            tasks_rows = await conn.fetch(
                "SELECT id, number FROM tasks WHERE project_id = $1 ORDER BY number", pid
            )
            stored = {r["id"] for r in tasks_rows}
            assert {uuid.UUID(a) for a in writers.acknowledged} <= stored, "acknowledged write lost"
            numbers = [r["number"] for r in tasks_rows]
            assert numbers == list(range(1, len(numbers) + 1)), "gaps or repeats in numbers"
            # Every write landed whole: one task, one lookup row, one event, one
            # idempotency record; the project's version counts its events.
            created = await conn.fetchval(
                "SELECT count(*) FROM events WHERE project_id = $1 AND type = 'task.created'", pid
            )
            lookups = await conn.fetchval(
                "SELECT count(*) FROM task_lookup WHERE project_id = $1", pid
            )
            assert created == lookups == len(stored)
            version = await conn.fetchval("SELECT version FROM projects WHERE id = $1", pid)
            events = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", pid)
            assert version == events
            keys = await conn.fetchval(
                "SELECT count(*) FROM idempotency_keys WHERE key = ANY($1::text[])",
                list(writers.keys),
            )
            # Each key committed at most once; keys still in flight at the stop may not have.
            assert len(stored) == keys <= len(writers.keys)
        finally:
            await conn.close()
