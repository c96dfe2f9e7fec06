"""`TaskFolds`: a task as of each of its events, folded across a consumer's
batches, against folding the task's whole committed history every time."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from domain import notifications as rules
from realtime.task_folds import TaskFolds
from storage import outbox
from storage.db import create_engine
from storage.outbox import StoredEvent
from tests.integration.conftest import User, create_project, create_task

pytestmark = pytest.mark.timeout(60)


def _every(_e: StoredEvent) -> bool:
    return True


def _updates(e: StoredEvent) -> bool:
    return e.type == rules.TASK_UPDATED


async def _rename(client: httpx.AsyncClient, user: User, task_id: str, title: str) -> None:
    r = await client.patch(f"/api/v1/tasks/{task_id}", json={"title": title}, headers=user.headers)
    assert r.status_code == 200, r.text


async def _comment(client: httpx.AsyncClient, user: User, task_id: str) -> None:
    r = await client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": "noted"}, headers=user.headers
    )
    assert r.status_code == 201, r.text


async def _renamed(
    client: httpx.AsyncClient, user: User, prefix: str, renames: int
) -> tuple[dict[str, Any], uuid.UUID, dict[str, Any], uuid.UUID]:
    """A new project and a task in it titled `<prefix>0`, renamed `<prefix>1`… in turn."""
    project = await create_project(client, user)
    task = await create_task(client, user, project["id"], title=f"{prefix}0")
    for n in range(1, renames + 1):
        await _rename(client, user, task["id"], f"{prefix}{n}")
    return project, uuid.UUID(project["id"]), task, uuid.UUID(task["id"])


async def test_batches_fold_like_the_whole_history_and_read_only_what_came_after(
    client: httpx.AsyncClient, alice: User, database_url: str, db: Any
) -> None:
    project, pid, task, tid = await _renamed(client, alice, "t", 3)
    other = await create_task(client, alice, project["id"], title="o0")
    engine = create_engine(database_url, pool_size=1)
    folds: TaskFolds[rules.TaskSnapshot] = TaskFolds(rules.apply_event)
    try:
        async with engine.connect() as conn:
            first = await outbox.read_events(conn, pid, after=0, limit=100)
            got = await folds.fold(conn, first, _updates)
            assert [(f.before.title, f.after.title) for f in got if f.before and f.after] == [
                ("t0", "t1"),
                ("t1", "t2"),
                ("t2", "t3"),
            ]
            assert len(folds) == 1  # only tasks with a wanted event are folded
            seen = first[-1].version

        # Comments (not wanted, and no change to the task) and a rename of the
        # other task pass while this consumer is away.
        await _comment(client, alice, task["id"])
        await _rename(client, alice, other["id"], "o1")
        await _rename(client, alice, task["id"], "t4")
        await _rename(client, alice, task["id"], "t5")
        # The remembered fold stands for the events up to `seen`: rewriting the
        # task's creation in the table shows whether those are read again.
        created = next(e for e in first if e.type == rules.TASK_CREATED and e.task_id == tid)
        await db.execute(
            "UPDATE events SET payload = $3::text::jsonb WHERE project_id = $1 AND version = $2",
            pid,
            created.version,
            orjson.dumps({"task": {**task, "description": "rewritten"}}).decode(),
        )
        async with engine.connect() as conn:
            later = await outbox.read_events(conn, pid, after=seen, limit=100)
            renamed = [e for e in later if e.type == rules.TASK_UPDATED]
            # A consumer that skips a batch (nothing in it for it) starts after it.
            tail = later[later.index(renamed[-1]) :]
            got = await folds.fold(conn, tail, _updates)
            assert [(f.before.title, f.after.title) for f in got if f.before and f.after] == [
                ("t4", "t5")
            ]
            assert got[0].before is not None and got[0].before.description == ""
            assert got[0].before.key == task["key"]
            # A fresh fold reads the whole history, rewritten creation included.
            fresh: TaskFolds[rules.TaskSnapshot] = TaskFolds(rules.apply_event)
            again = await fresh.fold(conn, tail, _updates)
            assert again[0].before is not None and again[0].before.title == "t4"
            assert again[0].before.description == "rewritten"
    finally:
        await engine.dispose()


async def test_a_batch_delivered_again_folds_from_the_start_and_capacity_forgets(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    project = await create_project(client, alice)
    pid = uuid.UUID(project["id"])
    tasks = [await create_task(client, alice, project["id"], title=f"{n}.0") for n in range(3)]
    for n, task in enumerate(tasks):
        await _rename(client, alice, task["id"], f"{n}.1")
        await _rename(client, alice, task["id"], f"{n}.2")
    engine = create_engine(database_url, pool_size=1)
    folds: TaskFolds[rules.TaskSnapshot] = TaskFolds(rules.apply_event, capacity=1)
    try:
        async with engine.connect() as conn:
            events = await outbox.read_events(conn, pid, after=0, limit=100)
            updates = [e for e in events if e.type == rules.TASK_UPDATED]
            head = events[: events.index(updates[-2])]  # up to task 2's first rename
            expected = [(f"{n}.{k}", f"{n}.{k + 1}") for n in range(2) for k in range(2)]

            def titles(got: list[Any]) -> list[tuple[str, str]]:
                return [(f.before.title, f.after.title) for f in got]

            assert titles(await folds.fold(conn, head, _updates)) == expected
            assert len(folds) == 1  # the least recently folded task is forgotten
            # The same batch again (its transaction rolled back): the tasks it
            # remembers are ahead of it, so they are folded from their start.
            assert titles(await folds.fold(conn, head, _updates)) == expected
            rest = events[len(head) :]
            assert titles(await folds.fold(conn, rest, _updates)) == [
                ("2.0", "2.1"),
                ("2.1", "2.2"),
            ]
            # Deleted: nothing after it.
            r = await client.delete(f"/api/v1/tasks/{tasks[0]['id']}", headers=alice.headers)
            assert r.status_code == 204, r.text
            deleted = await outbox.read_events(conn, pid, after=events[-1].version, limit=10)
            got = await folds.fold(conn, deleted, _every)
            assert got[0].before is not None and got[0].before.title == "0.2"
            assert got[0].after is None
    finally:
        await engine.dispose()


def _comments(e: StoredEvent) -> bool:
    return e.type == rules.COMMENT_CREATED


async def test_batches_that_follow_on_read_nothing_and_a_skipped_one_reads_the_gap(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    project = await create_project(client, alice)
    pid = uuid.UUID(project["id"])
    task = await create_task(client, alice, project["id"], title="r0")
    await _comment(client, alice, task["id"])
    engine = create_engine(database_url, pool_size=1)
    folds: TaskFolds[rules.TaskSnapshot] = TaskFolds(rules.apply_event)
    seen = 0

    async def next_batch(*, skip: int = 0) -> list[Any]:
        nonlocal seen
        async with engine.connect() as conn:
            events = (await outbox.read_events(conn, pid, after=seen, limit=100))[skip:]
            seen = events[-1].version
            got = await folds.fold(conn, events, _comments)
        return [(f.before.title, f.event.type) for f in got if f.before]

    try:
        assert await next_batch() == [("r0", rules.COMMENT_CREATED)]
        assert folds.reads == 0  # the task was created in the batch
        # A rename (not wanted) then a comment: the rename is folded first.
        await _rename(client, alice, task["id"], "r1")
        await _comment(client, alice, task["id"])
        assert await next_batch() == [("r1", rules.COMMENT_CREATED)]
        # A batch with nothing wanted still folds the remembered task...
        await _rename(client, alice, task["id"], "r2")
        assert await next_batch() == []
        # ...so the next one, following on, needs no statement either.
        await _comment(client, alice, task["id"])
        assert await next_batch() == [("r2", rules.COMMENT_CREATED)]
        assert folds.reads == 0
        # A batch the consumer did not see: what it held is read, once.
        await _rename(client, alice, task["id"], "r3")
        await _comment(client, alice, task["id"])
        assert await next_batch(skip=1) == [("r3", rules.COMMENT_CREATED)]
        assert folds.reads == 1
    finally:
        await engine.dispose()


async def test_as_of_one_version_reads_only_what_came_after_the_last_one(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    _project, pid, task, tid = await _renamed(client, alice, "v", 3)
    engine = create_engine(database_url, pool_size=1)
    folds: TaskFolds[rules.TaskSnapshot] = TaskFolds(rules.apply_event)
    try:
        async with engine.connect() as conn:
            events = await outbox.read_events(conn, pid, after=0, limit=100)
            renames = [e.version for e in events if e.type == rules.TASK_UPDATED]

            async def title_at(version: int) -> str:
                state = await folds.as_of(conn, pid, tid, version)
                assert state is not None
                return state.title

            assert await title_at(renames[1]) == "v2"
            assert await title_at(renames[1]) == "v2" and folds.reads == 1  # remembered
            assert await title_at(renames[2]) == "v3" and folds.reads == 2
            assert await title_at(renames[0]) == "v1"  # earlier: folded from the start
            # A batch after it does not take an entry made here as current.
            await _rename(client, alice, task["id"], "v4")
            tail = await outbox.read_events(conn, pid, after=events[-1].version, limit=10)
            got = await folds.fold(conn, tail, _updates)
            assert got[0].before is not None and got[0].before.title == "v3"
    finally:
        await engine.dispose()
