"""Several projects' batches in one transaction (`storage.group_commit`, used by
`actors.host_commit`): what lands, what a fenced project loses, the fallback."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from actors.grain import GrainState, ProjectGrain
from actors.host_commit import HostCommitter
from actors.stage import _Pending, _Stage
from domain.commands import CreateTask, IdempotencyKey, Reply, UpdateTask
from domain.errors import Unavailable
from domain.events import Event
from domain.projects import Project
from domain.tasks import Priority
from storage.db import create_engine
from storage.group_commit import NotCommitted, commit_together
from storage.project_store import Batch, IdempotencyRace, ProjectStore
from tests.integration.conftest import User, create_project


async def _noop_publish(_project: Project, _events: list[Event]) -> None:
    return None


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[ProjectStore]:
    engine = create_engine(database_url, pool_size=4)
    try:
        yield ProjectStore(engine)
    finally:
        await engine.dispose()


async def _projects(client: httpx.AsyncClient, alice: User, n: int) -> list[uuid.UUID]:
    keys = [f"G{chr(ord('A') + i // 26)}{chr(ord('A') + i % 26)}" for i in range(n)]
    made = [await create_project(client, alice, key=key) for key in keys]
    return [uuid.UUID(p["id"]) for p in made]


def _key(alice: User) -> IdempotencyKey:
    return IdempotencyKey(
        uuid.UUID(alice.org_id), uuid.UUID(alice.id), f"k-{uuid.uuid4()}", "hash", True
    )


async def _staged(
    store: ProjectStore, pid: uuid.UUID, alice: User, title: str
) -> tuple[Batch, int]:
    """A new epoch for the project and a batch creating one task in it (and its reply)."""
    loaded = await store.activate(pid)
    assert loaded is not None
    project, tasks, sprints = loaded
    stage = _Stage(project, {t.id: t for t in tasks}, {s.id: s for s in sprints})
    future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
    pending = _Pending(CreateTask(uuid.UUID(alice.id), {"title": title}), _key(alice), future)
    outcome = stage.decide(pending, {})
    assert isinstance(outcome, Reply), outcome
    return stage.batch, project.epoch


async def _committed_new_tasks(
    store: ProjectStore, pids: list[uuid.UUID], alice: User, title: str
) -> list[tuple[Batch, int]]:
    """A task `title i` created in each project by one combined commit (none fenced)."""
    items = [await _staged(store, pid, alice, f"{title} {i}") for i, pid in enumerate(pids)]
    assert await commit_together(store.engine, items) == set()
    return items


async def _written(db: Any, pid: uuid.UUID) -> dict[str, Any]:
    return {
        "tasks": [
            r["title"]
            for r in await db.fetch(
                "SELECT title FROM tasks WHERE project_id = $1 ORDER BY number", pid
            )
        ],
        "lookups": await db.fetchval("SELECT count(*) FROM task_lookup WHERE project_id = $1", pid),
        "events": await db.fetchval("SELECT count(*) FROM events WHERE project_id = $1", pid),
    }


async def _version(db: Any, pid: uuid.UUID) -> int:
    return int(await db.fetchval("SELECT version FROM projects WHERE id = $1", pid))


async def test_batches_of_several_projects_commit_in_one_transaction(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 3)
    items = await _committed_new_tasks(store, pids, alice, "together")
    for i, (pid, (batch, _)) in enumerate(zip(pids, items, strict=True)):
        assert await _written(db, pid) == {"tasks": [f"together {i}"], "lookups": 1, "events": 1}
        assert await _version(db, pid) == batch.project.version
    keys = [k.key for b, _ in items for k, _ in b.replies]
    stored = await db.fetch(
        "SELECT key, status_code, response->>'title' AS title FROM idempotency_keys "
        "WHERE key = ANY($1::text[]) ORDER BY key",
        keys,
    )
    assert len(stored) == 3 and all(r["status_code"] == 201 for r in stored)
    # One transaction: every row it wrote carries the same transaction id.
    xmins = await db.fetch(
        "SELECT xmin::text AS x FROM projects WHERE id = ANY($1::uuid[]) "
        "UNION SELECT xmin::text FROM events WHERE project_id = ANY($1::uuid[]) "
        "UNION SELECT xmin::text FROM tasks WHERE project_id = ANY($1::uuid[])",
        pids,
    )
    assert len(xmins) == 1


async def test_a_fenced_project_writes_nothing_and_the_others_commit(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 3)
    items = [await _staged(store, pid, alice, f"batch {i}") for i, pid in enumerate(pids)]
    assert await store.activate(pids[1]) is not None  # another activation: epoch + 1
    assert await commit_together(store.engine, items) == {(pids[1], items[1][1])}
    assert (await _written(db, pids[0]))["tasks"] == ["batch 0"]
    assert (await _written(db, pids[2]))["tasks"] == ["batch 2"]
    assert await _written(db, pids[1]) == {"tasks": [], "lookups": 0, "events": 0}
    assert await _version(db, pids[1]) == items[1][0].project.version - 1
    stale_key = items[1][0].replies[0][0].key
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", stale_key) == 0


async def test_a_stale_and_a_fresh_batch_of_one_project_in_one_transaction(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    # A host may still hold a fenced grain's batch when its successor's arrives.
    (pid,) = await _projects(client, alice, 1)
    stale = await _staged(store, pid, alice, "stale")
    fresh = await _staged(store, pid, alice, "fresh")
    assert await commit_together(store.engine, [stale, fresh]) == {(pid, stale[1])}
    assert await _written(db, pid) == {"tasks": ["fresh"], "lookups": 1, "events": 1}


async def test_changed_tasks_are_stored_as_staged_arrays_dates_and_fields_included(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 2)
    await _committed_new_tasks(store, pids, alice, "first")
    items: list[tuple[Batch, int]] = []
    expected = {}
    for n, pid in enumerate(pids):
        loaded = await store.activate(pid)
        assert loaded is not None
        project, tasks, _ = loaded
        (task,) = tasks
        # Arrays of different lengths per row, with characters array literals quote.
        labels = ("a,b", 'say "hi"', "{brace}", "ünï code", "back\\slash")[: 5 - n]
        changed = dataclasses.replace(
            task,
            title=f"changed {n}",
            labels=labels,
            watchers=tuple(uuid.uuid4() for _ in range(n + 1)),
            custom_fields={"points": 3 + n, "note": "x", "nested": {"a": [1, None]}},
            estimate=2.5,
            due_date=date(2027, 1, 31),
            start_date=date(2026, 12, 1),
            version=task.version + 1,
            priority=Priority.HIGH,
        )
        project = dataclasses.replace(project, version=project.version + 1)
        items.append((Batch(project, updated=[changed]), project.epoch))
        expected[pid] = (project.version, changed)
    assert await commit_together(store.engine, items) == set()
    for pid in pids:
        loaded = await store.activate(pid)
        assert loaded is not None
        assert (loaded[0].version, loaded[1]) == (expected[pid][0], [expected[pid][1]])


async def test_a_key_taken_meanwhile_rolls_back_everything(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 2)
    items = [await _staged(store, pid, alice, "raced") for pid in pids]
    taken = items[1][0].replies[0][0]
    await db.execute(
        "INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status_code) "
        "VALUES ($1, $2, $3, 'other', 200)",
        taken.org_id,
        taken.user_id,
        taken.key,
    )
    with pytest.raises(NotCommitted) as raised:
        await commit_together(store.engine, items)
    assert isinstance(raised.value.__cause__, IdempotencyRace)
    for pid in pids:
        assert await _written(db, pid) == {"tasks": [], "lookups": 0, "events": 0}


async def test_the_host_committer_falls_back_to_one_batch_at_a_time(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 3)
    items = [await _staged(store, pid, alice, f"fallback {i}") for i, pid in enumerate(pids)]
    taken = items[2][0].replies[0][0]
    await db.execute(
        "INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status_code) "
        "VALUES ($1, $2, $3, 'other', 200)",
        taken.org_id,
        taken.user_id,
        taken.key,
    )
    committer = HostCommitter(store)
    results = await asyncio.gather(
        *(committer.commit(b, epoch) for b, epoch in items), return_exceptions=True
    )
    assert results[:2] == [None, None]
    assert isinstance(results[2], IdempotencyRace)
    assert (await _written(db, pids[0]))["tasks"] == ["fallback 0"]
    assert (await _written(db, pids[1]))["tasks"] == ["fallback 1"]
    assert (await _written(db, pids[2]))["tasks"] == []


async def test_grains_sharing_a_committer_acknowledge_what_is_stored(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 8)
    committer = HostCommitter(store)
    grains = [await ProjectGrain.activate(p, store, _noop_publish, committer.commit) for p in pids]
    assert all(g is not None for g in grains)
    actor = uuid.UUID(alice.id)
    try:
        created = await asyncio.gather(
            *(g.submit(CreateTask(actor, {"title": "v1"}), _key(alice)) for g in grains if g)
        )
        updates = [
            g.submit(UpdateTask(actor, uuid.UUID(c.body["id"]), {"title": f"v{n}"}), _key(alice))
            for g, c in zip(grains, created, strict=True)
            if g is not None and c.body is not None
            for n in (2, 3)
        ]
        replies = await asyncio.gather(*updates)
        assert sorted({r.body["version"] for r in replies if r.body}) == [2, 3]
    finally:
        for g in grains:
            if g is not None:
                await g.passivate()
    for pid in pids:
        assert await _written(db, pid) == {"tasks": ["v3"], "lookups": 1, "events": 3}
    # The eight creates went in few transactions, not eight.
    xmins = await db.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE project_id = ANY($1::uuid[]) "
        "AND version = 1",
        pids,
    )
    assert xmins <= 2


async def test_a_stale_grain_sharing_a_committer_is_fenced(
    client: httpx.AsyncClient, alice: User, store: ProjectStore, db: Any
) -> None:
    pids = await _projects(client, alice, 2)
    committer = HostCommitter(store)
    stale, other = [
        await ProjectGrain.activate(p, store, _noop_publish, committer.commit) for p in pids
    ]
    assert stale is not None and other is not None
    assert await store.activate(pids[0]) is not None  # the project moved elsewhere
    actor = uuid.UUID(alice.id)
    try:
        results = await asyncio.gather(
            stale.submit(CreateTask(actor, {"title": "lost"}), None),
            other.submit(CreateTask(actor, {"title": "kept"}), None),
            return_exceptions=True,
        )
        assert isinstance(results[0], Unavailable)
        assert isinstance(results[1], Reply) and results[1].status == 201
        assert stale.state is GrainState.FENCED and other.state is GrainState.READY
    finally:
        await stale.passivate()
        await other.passivate()
    assert (await _written(db, pids[0]))["tasks"] == []
    assert (await _written(db, pids[1]))["tasks"] == ["kept"]
