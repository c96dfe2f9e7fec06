"""Redis killed (SIGKILL) and restarted under write load: every write still
succeeds, and a live session ends with every event once, in order, no gap."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil
import pytest

from cluster.stack import Stack
from realtime.fanout import Fanout
from realtime.session import Limits, Session
from storage.db import create_engine
from tests.integration.conftest import create_project, signup
from tests.integration.fault_helpers import fault_stack, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]


class RecordingSocket:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_text(self, data: str) -> None:
        self.messages.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None

    def versions(self) -> list[int]:
        return [m["version"] for m in self.messages if m["type"] == "event"]


async def _allow(_project_id: uuid.UUID) -> None:
    return None


def _kill_9(data_dir: Path) -> None:
    killed = 0
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "redis-server" and Path(proc.cwd()) == data_dir.resolve():
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
        except (psutil.Error, OSError):
            continue
    assert killed == 1, f"expected one redis-server in {data_dir}, killed {killed}"


async def test_redis_killed_and_restarted_under_load(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fault_stack(tmp_path, monkeypatch) as fs:
        user = await signup(fs.client)
        project = await create_project(fs.client, user)
        fanout = Fanout(fs.redis_url)
        engine = create_engine(fs.database_url, pool_size=2)
        socket = RecordingSocket()
        session = Session(
            socket,
            user_id=user.id,
            fanout=fanout,
            redis=None,
            engine=engine,
            authorize=_allow,
            limits=Limits(queue=10_000, replay=10_000),
        )
        statuses: list[int] = []
        latencies: list[tuple[float, float]] = []  # (started, seconds)
        stop = asyncio.Event()

        async def writer(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                started = time.monotonic()
                r = await fs.client.post(
                    "/api/v1/tasks",
                    json={"project_id": project["id"], "title": f"w{n}-{i}"},
                    headers={**user.headers, "Idempotency-Key": f"{n}-{i}-{uuid.uuid4()}"},
                )
                latencies.append((started, time.monotonic() - started))
                statuses.append(r.status_code)

        try:
            await session.start()
            await session.handle(
                orjson.dumps({"type": "subscribe", "project_id": project["id"]}).decode()
            )
            await wait_for(
                lambda: any(m["type"] == "subscribed" for m in socket.messages), 20, "subscribed"
            )
            writers = [asyncio.create_task(writer(n)) for n in range(3)]
            await wait_for(lambda: len(socket.versions()) >= 10, 30, "live events before")

            await asyncio.to_thread(_kill_9, fs.redis.data_dir)
            killed_at = time.monotonic()
            during_from = len(statuses)
            await asyncio.sleep(2.0)  # writes go on while Redis is gone
            during = statuses[during_from:]
            await asyncio.to_thread(fs.redis.start)
            await asyncio.sleep(1.5)  # and after it is back
            stop.set()
            await asyncio.gather(*writers)

            assert during, "no write was attempted during the outage"
            assert set(statuses) == {201}, f"writes failed: {sorted(set(statuses))}"
            slowest = max(seconds for started, seconds in latencies if started >= killed_at)
            assert slowest < 2.0, f"a write during or after the outage took {slowest:.2f} s"
            print(
                f"redis outage: {len(during)} writes during it, all 201; slowest write since "
                f"the kill {slowest * 1000:.0f} ms; {len(statuses)} writes in all"
            )
            # Every committed change: the writes, and any rank rebalance among them.
            conn = await asyncpg.connect(fs.database_url)
            try:
                final = await conn.fetchval(
                    "SELECT version FROM projects WHERE id = $1", uuid.UUID(project["id"])
                )
            finally:
                await conn.close()
            assert final >= len(statuses)
            await wait_for(
                lambda: len(socket.versions()) >= final, 30, "session caught up after restart"
            )
            # In order, each once, none missing; a background rank rebalance may
            # commit after `final` was read, so the session may be one ahead.
            seen = socket.versions()
            assert seen == list(range(1, len(seen) + 1)), "a gap or a repeat"
            assert len(seen) >= final
            assert fanout.reconnects >= 1
        finally:
            await session.close()
            await fanout.close()
            await engine.dispose()
