"""The outbox relay as a plain class (no Ray): order, offsets, and atomicity with the
consumer's own writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from actors.outbox import AfterCommit, OutboxRelay
from storage.db import create_engine
from storage.outbox import StoredEvent
from tests.integration.conftest import User, create_task


class Recorder:
    """Records what it is handed and writes a marker row in the relay's transaction."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        self.seen: list[tuple[str, int, str]] = []
        self.after_commit: list[int] = []
        self.fail_on = fail_on

    async def handle(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> AfterCommit | None:
        await conn.execute(
            text(
                "INSERT INTO consumer_offsets (consumer, project_id, version)"
                " VALUES (:c, :p, :v)"
                " ON CONFLICT (consumer, project_id) DO UPDATE SET version = :v"
            ),
            {"c": self.name + "-marker", "p": events[0].project_id, "v": events[-1].version},
        )
        if self.fail_on is not None and any(e.version == self.fail_on for e in events):
            raise RuntimeError("handler failed")
        self.seen += [(str(e.project_id), e.version, e.type) for e in events]

        async def done() -> None:
            self.after_commit.append(events[-1].version)

        return done

    async def background(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def _offset(db: Any, consumer: str, project_id: str) -> int | None:
    value = await db.fetchval(
        "SELECT version FROM consumer_offsets WHERE consumer = $1 AND project_id = $2",
        consumer,
        uuid.UUID(project_id),
    )
    return None if value is None else int(value)


async def test_relay_delivers_in_order_and_advances_the_offset(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], database_url: str, db: Any
) -> None:
    task = await create_task(client, alice, project["id"])
    await client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "b"}, headers=alice.headers)
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    engine = create_engine(database_url, pool_size=2)
    recorder = Recorder()
    relay = OutboxRelay(engine, [recorder], batch_size=2)
    try:
        pid = uuid.UUID(project["id"])
        assert await relay.deliver(recorder, pid) == 2  # one batch of two
        assert await relay.deliver(recorder, pid) == 1
        assert await relay.deliver(recorder, pid) == 0  # caught up
    finally:
        await engine.dispose()
    assert recorder.seen == [
        (project["id"], 1, "task.created"),
        (project["id"], 2, "task.updated"),
        (project["id"], 3, "task.deleted"),
    ]
    assert recorder.after_commit == [2, 3]
    assert await _offset(db, recorder.name, project["id"]) == 3


async def test_a_failing_handler_moves_nothing_and_its_writes_roll_back(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], database_url: str, db: Any
) -> None:
    await create_task(client, alice, project["id"])
    engine = create_engine(database_url, pool_size=2)
    recorder = Recorder(fail_on=1)
    relay = OutboxRelay(engine, [recorder])
    try:
        assert await relay.deliver(recorder, uuid.UUID(project["id"])) == 0
    finally:
        await engine.dispose()
    assert recorder.seen == [] and recorder.after_commit == []
    assert await _offset(db, recorder.name, project["id"]) in (None, 0)
    assert await _offset(db, recorder.name + "-marker", project["id"]) is None
