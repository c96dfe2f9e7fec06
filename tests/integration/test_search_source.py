"""What the search consumer reads for a project's events: the one-statement task
load gives what the per-task comment and attachment queries (`_indexed`, which a
rebuild still uses) give, and a pass over one project costs two statements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import event, select

from search import source
from search.consumer import ProjectCache, batches_for
from search.messages import ApplyBatch
from storage import outbox
from storage import tables as t
from storage.db import create_engine
from storage.project_store import task_from_row
from tests.integration.conftest import User, create_project, create_task
from tests.integration.test_attachments import upload

T = TypeVar("T")


async def _comment(client: httpx.AsyncClient, user: User, task_id: str, body: str) -> str:
    r = await client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": body}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    comment_id: str = r.json()["id"]
    return comment_id


async def test_load_tasks_reads_what_the_per_task_queries_read(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], database_url: str
) -> None:
    pid = uuid.UUID(project["id"])
    commented = await create_task(client, alice, project["id"], title="Commented")
    attached = await create_task(client, alice, project["id"], title="Attached")
    bare = await create_task(client, alice, project["id"], title="Bare")
    await _comment(client, alice, commented["id"], "first")
    gone_comment = await _comment(client, alice, commented["id"], "deleted later")
    await _comment(client, alice, commented["id"], "third")
    r = await client.delete(f"/api/v1/comments/{gone_comment}", headers=alice.headers)
    assert r.status_code == 204, r.text
    for name in ("a.txt", "b.txt"):
        assert (await upload(client, alice, attached["id"], name, b"x")).status_code == 201
    ids = [uuid.UUID(x["id"]) for x in (commented, attached, bare)]
    missing = uuid.uuid4()
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await source.live_project(conn, pid)
            assert found is not None
            assert await source.live_project(conn, pid, found.org_id) == found
            rows = await conn.execute(select(t.tasks).where(t.tasks.c.id.in_(ids)))
            expected = await source._indexed(conn, found, [task_from_row(r) for r in rows])
            named, gone = await source.load_tasks(conn, found, [*ids, missing])
            whole, none_gone = await source.load_tasks(conn, found, None)
    finally:
        await engine.dispose()

    def by_id(items: list[Any]) -> list[Any]:
        return sorted(items, key=lambda x: x.task["id"])

    assert by_id(named) == by_id(expected) and gone == [missing]
    assert by_id(whole) == by_id(expected) and none_gone == []
    got = {x.task["title"]: x for x in named}
    assert got["Commented"].comments == ("first", "third")
    assert got["Attached"].attachments == 2 and got["Bare"].comments == ()


async def _counted(engine: Any, conn: Any, read: Callable[[], Awaitable[T]]) -> tuple[T, list[str]]:
    """`read()`'s result, and the statements it sent (through SQLAlchemy, and on the
    asyncpg connection underneath)."""
    sent: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        sent.append(statement)

    def logged(record: Any) -> None:
        sent.append(record.query)

    driver = (await conn.get_raw_connection()).driver_connection
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    driver.add_query_logger(logged)
    try:
        return await read(), sent
    finally:
        await asyncio.sleep(0.05)  # asyncpg calls query loggers on a later loop turn
        driver.remove_query_logger(logged)
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def batch_for(
    conn: Any, events: Any, projects: ProjectCache | None = None
) -> ApplyBatch | None:
    """The index changes of one project's events (None: nothing to change)."""
    found = await batches_for(conn, {events[0].project_id: events}, projects)
    return found[0] if found else None


async def _batch_counted(
    engine: Any, conn: Any, events: Any, projects: ProjectCache | None = None
) -> tuple[Any, list[str]]:
    """`batch_for` over `events`, and the statements it sent."""
    # asyncpg looks up the types of a statement's parameters once per connection:
    # a warm-up pass (without the caller's cache) leaves the steady state to count.
    await batch_for(conn, events)
    return await _counted(engine, conn, lambda: batch_for(conn, events, projects))


async def test_a_pass_over_a_project_costs_two_statements_and_a_deleted_one_drops(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    project = await create_project(client, alice)
    pid = uuid.UUID(project["id"])
    for n in range(3):
        await create_task(client, alice, project["id"], title=f"Task {n}")
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            events = await outbox.read_events(conn, pid, after=0, limit=100)
            batch, statements = await _batch_counted(engine, conn, events)
            assert batch is not None and len(batch.items) == 3
            assert len(statements) == 2, statements  # the project, then its tasks
        r = await client.delete(f"/api/v1/projects/{project['id']}", headers=alice.headers)
        assert r.status_code == 204, r.text
        async with engine.connect() as conn:
            assert await source.live_project(conn, pid, events[0].org_id) is None
            dropped = await batch_for(conn, events)
            assert dropped is not None and dropped.drop_project
    finally:
        await engine.dispose()


async def test_the_consumer_reads_a_project_again_only_after_an_event_that_changes_it(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    project = await create_project(client, alice)
    pid = uuid.UUID(project["id"])
    task = await create_task(client, alice, project["id"], title="Keep", status="in_review")
    engine = create_engine(database_url, pool_size=1)
    projects = ProjectCache()

    async def index(after: int) -> tuple[Any, list[str], int]:
        async with engine.connect() as conn:
            events = await outbox.read_events(conn, pid, after=after, limit=100)
            batch, sent = await _batch_counted(engine, conn, events, projects)
        return batch, sent, events[-1].version

    try:
        batch, sent, version = await index(0)
        assert len(sent) == 2  # the project, then its tasks
        assert batch.items[0].category == "in_progress"  # in review: in progress by default
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}", json={"title": "Kept"}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        batch, sent, version = await index(version)
        assert len(sent) == 1, sent  # the tasks only: the project is as it was
        assert batch.items[0].task["title"] == "Kept"
        # The workflow changes "in_review" to a done category: read again, re-categorised.
        wf = (
            await client.get(f"/api/v1/projects/{project['id']}/workflow", headers=alice.headers)
        ).json()
        for status in wf["statuses"]:
            if status["id"] == "in_review":
                status["category"] = "done"
        r = await client.put(
            f"/api/v1/projects/{project['id']}/workflow", json=wf, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        batch, sent, version = await index(version)
        assert len(sent) == 2, sent
        assert [i.category for i in batch.items] == ["done"]
    finally:
        await engine.dispose()


async def test_a_pass_over_several_projects_reads_their_tasks_in_one_statement(
    client: httpx.AsyncClient, alice: User, database_url: str
) -> None:
    projects = [await create_project(client, alice) for _ in range(3)]
    tasks = [[await create_task(client, alice, p["id"]) for _ in range(2)] for p in projects]
    deleted = tasks[1][0]["id"]
    r = await client.delete(f"/api/v1/tasks/{deleted}", headers=alice.headers)
    assert r.status_code == 204, r.text
    engine = create_engine(database_url, pool_size=1)
    cache = ProjectCache()
    try:
        async with engine.connect() as conn:
            pending = {}
            for p in projects:
                pid = uuid.UUID(p["id"])
                pending[pid] = await outbox.read_events(conn, pid, after=0, limit=100)
            alone = [await batch_for(conn, events, cache) for events in pending.values()]
            together, sent = await _counted(engine, conn, lambda: batches_for(conn, pending, cache))
    finally:
        await engine.dispose()
    assert len(sent) == 1, sent  # the projects come from the cache: only the tasks

    def key(batch: Any) -> Any:
        items = sorted((i.task["id"], i.task["title"]) for i in batch.items)
        return batch.project_id, batch.version, items, sorted(batch.gone)

    assert sorted(map(key, together)) == sorted(map(key, alone))
    gone = {b.project_id: b.gone for b in together}
    assert gone[projects[1]["id"]] == (deleted,) and gone[projects[0]["id"]] == ()
    assert sum(len(b.items) for b in together) == 5
