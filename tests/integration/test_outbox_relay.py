"""The outbox relay as a plain class (no Ray): order, offsets, and atomicity with the
consumer's own writes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from actors.outbox import AfterCommit, OutboxRelay
from storage.db import create_engine
from storage.outbox import RecentEvents, StoredEvent, claim_next_events
from tests.integration.conftest import User, create_project, create_task


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


async def test_many_projects_in_one_pass_a_failing_one_rolls_back_alone(
    client: httpx.AsyncClient, alice: User, database_url: str, db: Any
) -> None:

    good = [await create_project(client, alice) for _ in range(3)]
    bad = await create_project(client, alice)
    for p in [*good, bad]:
        await create_task(client, alice, p["id"])
        await create_task(client, alice, p["id"])
    engine = create_engine(database_url, pool_size=2)
    recorder = Recorder()
    bad_id = uuid.UUID(bad["id"])
    handle = recorder.handle

    async def failing_for_bad(conn: AsyncConnection, events: Sequence[StoredEvent]) -> Any:
        result = await handle(conn, events)  # writes its marker row first
        if events[0].project_id == bad_id:
            raise RuntimeError("handler failed")
        return result

    recorder.handle = failing_for_bad  # type: ignore[method-assign]
    relay = OutboxRelay(engine, [recorder])
    try:
        ids = [uuid.UUID(p["id"]) for p in [*good, bad]]
        counts = await relay.deliver_many(recorder, ids)
        assert counts == {uuid.UUID(p["id"]): 2 for p in good}
        # Backing off: the failed project is not retried at once.
        assert await relay.deliver_many(recorder, [bad_id]) == {}
    finally:
        await engine.dispose()
    for p in good:
        assert await _offset(db, recorder.name, p["id"]) == 2
        assert await _offset(db, recorder.name + "-marker", p["id"]) == 2
    assert await _offset(db, recorder.name, bad["id"]) in (None, 0)
    assert await _offset(db, recorder.name + "-marker", bad["id"]) is None  # rolled back
    assert sorted(recorder.after_commit) == [2, 2, 2]


async def test_announced_projects_go_at_once_and_the_full_scan_finds_the_rest(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    import asyncio
    import time

    announced, silent = await create_project(client, alice), await create_project(client, alice)
    engine = create_engine(database_url, pool_size=2)
    recorder = Recorder()
    relay = OutboxRelay(engine, [recorder], full_scan_s=6.0)
    relay.announcements = True
    runner = asyncio.create_task(relay.run(poll_s=0.05))

    def seen(project: dict[str, Any]) -> bool:
        return any(p == project["id"] for p, _, _ in recorder.seen)

    async def until(check: Any, limit_s: float) -> float:
        started = time.monotonic()
        while not check():
            assert time.monotonic() - started < limit_s, recorder.seen
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    try:
        # The first (full) pass is over: only announcements now, until the next scan.
        await until(lambda: relay.full_passes[recorder.name] >= 1, 5.0)
        await create_task(client, alice, silent["id"])
        await create_task(client, alice, announced["id"])
        relay.announce(uuid.UUID(announced["id"]))
        assert await until(lambda: seen(announced), 1.0) < 1.0
        assert not seen(silent), "a project nobody announced went before the full scan"
        await until(lambda: seen(silent), 10.0)  # the next full scan catches it
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await engine.dispose()


async def test_a_selective_consumer_handles_only_its_projects_and_all_offsets_move(
    client: httpx.AsyncClient, alice: User, database_url: str, db: Any
) -> None:

    wanted, other = await create_project(client, alice), await create_project(client, alice)
    for p in (wanted, other):
        await create_task(client, alice, p["id"])
    engine = create_engine(database_url, pool_size=2)
    recorder = Recorder()
    asked: list[dict[uuid.UUID, uuid.UUID]] = []

    async def interested(
        conn: AsyncConnection, projects: dict[uuid.UUID, uuid.UUID]
    ) -> set[uuid.UUID]:
        asked.append(dict(projects))
        return {uuid.UUID(wanted["id"])}

    recorder.interested = interested  # type: ignore[attr-defined]
    relay = OutboxRelay(engine, [recorder])
    try:
        ids = [uuid.UUID(p["id"]) for p in (wanted, other)]
        assert await relay.deliver_many(recorder, ids) == {ids[0]: 1, ids[1]: 1}
    finally:
        await engine.dispose()
    assert asked == [{ids[0]: uuid.UUID(alice.org_id), ids[1]: uuid.UUID(alice.org_id)}]
    assert recorder.seen == [(wanted["id"], 1, "task.created")]
    assert await _offset(db, recorder.name, wanted["id"]) == 1
    assert await _offset(db, recorder.name, other["id"]) == 1  # skipped, yet delivered


async def test_a_batched_consumer_gets_a_pass_in_one_call_and_a_failure_goes_one_by_one(
    client: httpx.AsyncClient, alice: User, database_url: str, db: Any
) -> None:
    projects = [await create_project(client, alice) for _ in range(4)]
    for p in projects:
        await create_task(client, alice, p["id"])
    ids = [uuid.UUID(p["id"]) for p in projects]
    skipped, bad = ids[0], ids[1]
    engine = create_engine(database_url, pool_size=2)
    recorder = Recorder()
    calls: list[list[uuid.UUID]] = []
    fail = True

    async def interested(
        conn: AsyncConnection, asked: dict[uuid.UUID, uuid.UUID]
    ) -> set[uuid.UUID]:
        return set(asked) - {skipped}

    async def handle_many(
        conn: AsyncConnection, pending: dict[uuid.UUID, Sequence[StoredEvent]]
    ) -> AfterCommit | None:
        calls.append(list(pending))
        after = [await recorder.handle(conn, events) for events in pending.values()]
        if fail and bad in pending:
            raise RuntimeError("handler failed")

        async def done() -> None:
            for step in after:
                assert step is not None
                await step()

        return done

    recorder.interested = interested  # type: ignore[attr-defined]
    recorder.handle_many = handle_many  # type: ignore[attr-defined]
    relay = OutboxRelay(engine, [recorder])
    try:
        counts = await relay.deliver_many(recorder, ids)
        # One call for the pass (the uninterested project left out); it failed, so
        # each project went again alone, and only the failing one waits.
        assert sorted(calls[0]) == sorted(ids[1:])
        assert sorted(calls[1:]) == sorted([i] for i in ids[1:])
        assert counts == {i: 1 for i in ids if i != bad}
        fail = False
        calls.clear()
        relay._failing.clear()  # its back-off is over
        assert await relay.deliver_many(recorder, ids) == {bad: 1}
        assert calls == [[bad]]
    finally:
        await engine.dispose()
    for pid in ids:
        assert await _offset(db, recorder.name, str(pid)) == 1
        marker = await _offset(db, recorder.name + "-marker", str(pid))
        assert marker == (None if pid == skipped else 1)
    assert sorted(recorder.after_commit) == [1, 1, 1]


async def test_claiming_creates_offsets_and_leaves_out_what_another_relay_holds(
    client: httpx.AsyncClient, alice: User, database_url: str, db: Any
) -> None:

    held, free = await create_project(client, alice), await create_project(client, alice)
    for p in (held, free):
        await create_task(client, alice, p["id"])
        await create_task(client, alice, p["id"])
    held_id, free_id = uuid.UUID(held["id"]), uuid.UUID(free["id"])
    name = f"test-{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url, pool_size=2)
    try:
        async with engine.begin() as conn:  # the offsets are created at 0
            got = await claim_next_events(conn, name, [held_id, free_id], limit=1)
            assert {p: [e.version for e in es] for p, es in got.items()} == {
                held_id: [1],
                free_id: [1],
            }
        async with engine.begin() as first:
            assert list(await claim_next_events(first, name, [held_id], limit=1)) == [held_id]
            async with engine.begin() as second:
                got = await claim_next_events(second, name, [held_id, free_id], limit=10)
                assert list(got) == [free_id]  # the held one is skipped, not waited for
                assert [e.version for e in got[free_id]] == [1, 2]
    finally:
        await engine.dispose()
    assert await _offset(db, name, held["id"]) == 0
    assert await _offset(db, name, free["id"]) == 0


async def test_consumers_claiming_with_held_events_read_each_event_once(
    client: httpx.AsyncClient, alice: User, database_url: str, db: Any
) -> None:
    project = await create_project(client, alice)
    for _ in range(3):
        await create_task(client, alice, project["id"])
    p = uuid.UUID(project["id"])
    first, second, ahead = (f"test-{uuid.uuid4().hex[:8]}" for _ in range(3))
    await db.execute(
        "INSERT INTO consumer_offsets (consumer, project_id, version) VALUES ($1, $2, 2)", ahead, p
    )
    recent = RecentEvents()
    engine = create_engine(database_url, pool_size=2)
    try:
        async with engine.begin() as conn:
            read = (await claim_next_events(conn, first, [p], limit=10, recent=recent))[p]
        assert [e.version for e in read] == [1, 2, 3]
        assert recent.run(p) == tuple(read)
        async with engine.begin() as conn:
            held = (await claim_next_events(conn, second, [p], limit=10, recent=recent))[p]
            after_two = (await claim_next_events(conn, ahead, [p], limit=10, recent=recent))[p]
        # The same objects: handed out from what the first claim read, not read again.
        assert all(a is b for a, b in zip(held, read, strict=True))
        assert [e.version for e in after_two] == [3] and after_two[0] is read[2]

        await create_task(client, alice, project["id"])
        async with engine.begin() as conn:
            grown = (await claim_next_events(conn, second, [p], limit=10, recent=recent))[p]
            capped = (await claim_next_events(conn, first, [p], limit=2, recent=recent))[p]
        assert [e.version for e in grown] == [1, 2, 3, 4]
        assert all(a is b for a, b in zip(grown[:3], read, strict=True))
        assert [e.version for e in recent.run(p)] == [1, 2, 3, 4]
        assert [e.version for e in capped] == [1, 2]

        # An offset before what is held reads from the offset on, and holds that.
        tail_only = RecentEvents()
        tail_only.hold(p, grown[2:], ())
        async with engine.begin() as conn:
            got = (await claim_next_events(conn, first, [p], limit=10, recent=tail_only))[p]
        assert [e.version for e in got] == [1, 2, 3, 4]
        assert got == grown and got[2] is not grown[2]
        assert [e.version for e in tail_only.run(p)] == [1, 2, 3, 4]
    finally:
        await engine.dispose()
