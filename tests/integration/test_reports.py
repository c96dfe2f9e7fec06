"""Reports end to end: the scripted history of `tests/unit/test_report_scripted.py`
written into the event log, folded by the running reports consumer, read through
the endpoints; rebuild equals the incremental tables; replays change nothing;
time zones; access."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import orjson

from reports.consumer import CONSUMER_NAME, ReportsConsumer, apply_events
from reports.rebuild import rebuild_project
from storage import outbox
from storage.db import create_engine
from tests.integration.conftest import User, create_project, create_task
from tests.unit.test_report_scripted import S1, scripted_history

_TABLES = {
    "report_task_intervals": "task_id, start_version",
    "report_status_days": "day, status, category",
    "report_sprints": "sprint_id",
    "report_sprint_scope": "version",
    "report_task_flow": "task_id",
}


async def _snapshot(db: Any, project_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table, order in _TABLES.items():
        rows = await db.fetch(
            f"SELECT * FROM {table} WHERE project_id = $1 ORDER BY {order}", project_id
        )
        out[table] = [tuple(r.values()) for r in rows]
    state = await db.fetchrow(
        "SELECT version, time_zone, categories FROM report_projects WHERE project_id = $1",
        project_id,
    )
    out["report_projects"] = [tuple(state.values())] if state else []
    return out


async def _caught_up(db: Any, project_id: uuid.UUID, timeout_s: float = 60.0) -> None:
    """Wait until the reports consumer applied every event of the project."""
    deadline = time.monotonic() + timeout_s
    while True:
        head = await db.fetchval("SELECT version FROM projects WHERE id = $1", project_id)
        done = await db.fetchval(
            "SELECT version FROM report_projects WHERE project_id = $1", project_id
        )
        if done is not None and done >= head:
            return
        assert time.monotonic() < deadline, f"reports at {done}, project at {head}"
        await asyncio.sleep(0.1)


async def _scripted_project(client: httpx.AsyncClient, user: User, db: Any) -> uuid.UUID:
    """A project whose whole history is the script (written as the grain would)."""
    project = await create_project(client, user, time_zone="America/New_York")
    pid = uuid.UUID(project["id"])
    events = scripted_history(pid, uuid.UUID(user.org_id))
    async with db.transaction():
        await db.executemany(
            "INSERT INTO events (project_id, version, org_id, type, actor_id, task_id, payload,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)",
            [
                (
                    e.project_id,
                    e.version,
                    e.org_id,
                    e.type,
                    uuid.UUID(user.id),
                    e.task_id,
                    orjson.dumps(e.payload).decode(),
                    e.created_at,
                )
                for e in events
            ],
        )
        await db.execute("UPDATE projects SET version = $2 WHERE id = $1", pid, len(events))
    await _caught_up(db, pid)
    return pid


async def test_scripted_history_through_the_endpoints(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    pid = await _scripted_project(client, alice, db)
    base = f"/api/v1/projects/{pid}/reports"

    r = await client.get(f"{base}/burndown", params={"sprint_id": str(S1)}, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert [
        (d["date"], d["remaining_estimate"], d["remaining_count"], d["ideal_estimate"])
        for d in r.json()["days"]
    ] == [
        ("2026-02-02", 10.0, 3, 10.0),
        ("2026-02-03", 5.0, 3, 7.5),
        ("2026-02-04", 8.0, 3, 5.0),
        ("2026-02-05", 1.0, 1, 2.5),
        ("2026-02-06", 1.0, 1, 0.0),
    ]
    assert [len(d["scope_changes"]) for d in r.json()["days"]] == [0, 1, 2, 1, 0]

    r = await client.get(
        f"{base}/cumulative-flow",
        params={"from": "2026-02-02", "to": "2026-02-06"},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["statuses"] == ["backlog", "todo", "in_progress", "in_review", "done"]
    assert [list(d["counts"].values()) for d in body["days"]] == [
        [1, 2, 1, 0, 0],
        [1, 1, 1, 0, 1],
        [1, 1, 1, 0, 1],
        [1, 1, 0, 0, 3],
        [0, 1, 1, 0, 3],
    ]

    r = await client.get(f"{base}/velocity", params={"sprints": 6}, headers=alice.headers)
    row = r.json()["sprints"][0]
    assert (row["committed_estimate"], row["completed_estimate"]) == (10.0, 8.0)

    r = await client.get(
        f"{base}/cycle-time",
        params={"from": "2026-02-01", "to": "2026-02-28"},
        headers=alice.headers,
    )
    body = r.json()
    assert [(t["key"][-1], t["cycle_time_days"]) for t in body["tasks"]] == [("A", 1.5), ("B", 2.0)]
    assert body["percentiles_days"]["p50"] == 1.75
    assert body["done_without_start"] == 1

    r = await client.get(
        f"{base}/throughput",
        params={"from": "2026-02-02", "to": "2026-02-15"},
        headers=alice.headers,
    )
    assert r.json()["weeks"] == [
        {"week": "2026-02-02", "done": 3},
        {"week": "2026-02-09", "done": 0},
    ]

    r = await client.get(
        f"{base}/burndown",
        params={"sprint_id": str(S1), "format": "csv"},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[:3] == [
        "date,remaining_estimate,remaining_count,ideal_estimate,scope_changes",
        "2026-02-02,10,3,10,0",
        "2026-02-03,5,3,7.5,1",
    ]


async def test_rebuild_equals_incremental_and_replays_change_nothing(
    client: httpx.AsyncClient, alice: User, db: Any, database_url: str
) -> None:
    project = await create_project(client, alice, time_zone="Asia/Kathmandu")
    pid = uuid.UUID(project["id"])
    h = alice.headers
    r = await client.post(f"/api/v1/projects/{pid}/sprints", json={"name": "One"}, headers=h)
    sprint = r.json()["id"]
    tasks = [
        await create_task(client, alice, str(pid), estimate=float(i + 1), sprint_id=sprint)
        for i in range(4)
    ]
    assert (
        await client.post(f"/api/v1/projects/{pid}/sprints/{sprint}/start", headers=h)
    ).status_code == 200
    for task, status in zip(tasks, ["in_progress", "done", "in_review", "todo"], strict=True):
        r = await client.patch(f"/api/v1/tasks/{task['id']}", json={"status": status}, headers=h)
        assert r.status_code == 200, r.text
    await client.patch(f"/api/v1/tasks/{tasks[0]['id']}", json={"estimate": 0.1}, headers=h)
    await client.patch(f"/api/v1/tasks/{tasks[0]['id']}", json={"status": "done"}, headers=h)
    await client.delete(f"/api/v1/tasks/{tasks[3]['id']}", headers=h)
    extra = await create_task(client, alice, str(pid), estimate=2.5)
    r = await client.post(
        f"/api/v1/projects/{pid}/sprints/{sprint}/tasks", json={"add": [extra["id"]]}, headers=h
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/projects/{pid}/sprints/{sprint}/complete", json={}, headers=h)
    assert r.status_code == 200, r.text
    await _caught_up(db, pid)
    incremental = await _snapshot(db, pid)
    assert incremental["report_sprints"][0][-6:-4] == (4, 10)  # committed: 4 tasks, 1+2+3+4

    engine = create_engine(database_url, pool_size=2)
    try:
        rebuilt = await rebuild_project(engine, pid)
        assert rebuilt.version == await db.fetchval(
            "SELECT version FROM projects WHERE id = $1", pid
        )
        assert await _snapshot(db, pid) == incremental

        # The same events handed over again (an at-least-once redelivery) add nothing.
        async with engine.begin() as conn:
            events = await outbox.read_events(conn, pid, after=0, limit=1_000)
            assert await apply_events(conn, pid, events) == 0
        await db.execute(
            "UPDATE consumer_offsets SET version = 0 WHERE consumer = $1 AND project_id = $2",
            CONSUMER_NAME,
            pid,
        )
        deadline = time.monotonic() + 30
        while (
            await db.fetchval(
                "SELECT version FROM consumer_offsets WHERE consumer = $1 AND project_id = $2",
                CONSUMER_NAME,
                pid,
            )
            < rebuilt.version
        ):
            assert time.monotonic() < deadline, "the relay did not redeliver"
            await asyncio.sleep(0.1)
        assert await _snapshot(db, pid) == incremental
    finally:
        await engine.dispose()


async def test_a_pass_of_events_that_change_no_report_moves_on_in_one_statement(
    client: httpx.AsyncClient, alice: User, db: Any, database_url: str
) -> None:
    projects = [uuid.UUID((await create_project(client, alice))["id"]) for _ in range(3)]
    for pid in projects:
        task = await create_task(client, alice, str(pid))
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}", json={"title": "Renamed"}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
    for pid in projects:
        await _caught_up(db, pid)
    before = {pid: await _snapshot(db, pid) for pid in projects}
    engine = create_engine(database_url, pool_size=1)
    sent: list[str] = []
    consumer = ReportsConsumer()

    def logged(record: Any) -> None:
        sent.append(record.query)

    try:
        async with engine.begin() as conn:
            pending = {}
            for pid in projects:
                events = await outbox.read_events(conn, pid, after=0, limit=100)
                pending[pid] = [e for e in events if e.type == "task.updated"]
            # Seen already: nothing moves (and asyncpg has looked up the types).
            await consumer.handle_many(conn, pending)
        assert {pid: await _snapshot(db, pid) for pid in projects} == before
        # As if the renames had not been seen yet.
        for pid in projects:
            await db.execute(
                "UPDATE report_projects SET version = version - 1 WHERE project_id = $1", pid
            )
        async with engine.begin() as conn:
            await conn.exec_driver_sql("SELECT 1")
            driver: Any = (await conn.get_raw_connection()).driver_connection
            driver.add_query_logger(logged)
            await consumer.handle_many(conn, pending)
            await asyncio.sleep(0.05)  # asyncpg calls query loggers on a later loop turn
            driver.remove_query_logger(logged)
    finally:
        await engine.dispose()
    assert len(sent) == 1, sent
    assert {pid: await _snapshot(db, pid) for pid in projects} == before


async def test_changing_the_time_zone_recounts_the_days(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    pid = await _scripted_project(client, alice, db)
    url = f"/api/v1/projects/{pid}/reports/cumulative-flow"
    params = {"from": "2026-02-03", "to": "2026-02-04"}
    r = await client.get(url, params=params, headers=alice.headers)
    assert [d["counts"]["done"] for d in r.json()["days"]] == [1, 1]
    r = await client.patch(
        f"/api/v1/projects/{pid}", json={"time_zone": "UTC"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["time_zone"] == "UTC"
    await _caught_up(db, pid)
    r = await client.get(url, params=params, headers=alice.headers)
    # In UTC, A was done on 4 February.
    assert [d["counts"]["done"] for d in r.json()["days"]] == [0, 1]


async def test_unknown_time_zone_is_422(client: httpx.AsyncClient, alice: User) -> None:
    r = await client.post(
        "/api/v1/projects",
        json={"name": "Zoned", "time_zone": "Mars/Olympus"},
        headers=alice.headers,
    )
    assert r.status_code == 422
    assert "time zone" in r.json()["detail"]
    project = await create_project(client, alice)
    assert project["time_zone"] == "UTC"
    r = await client.patch(
        f"/api/v1/projects/{project['id']}",
        json={"time_zone": "Nowhere/Land"},
        headers=alice.headers,
    )
    assert r.status_code == 422


async def test_bad_report_parameters_are_4xx(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    base = f"/api/v1/projects/{project['id']}/reports"
    h = alice.headers
    r = await client.get(
        f"{base}/cumulative-flow", params={"from": "2026-03-01", "to": "2026-02-01"}, headers=h
    )
    assert r.status_code == 422 and "from" in r.json()["detail"]
    r = await client.get(
        f"{base}/cumulative-flow", params={"from": "2020-01-01", "to": "2026-02-01"}, headers=h
    )
    assert r.status_code == 422
    r = await client.get(f"{base}/cumulative-flow", params={"from": "yesterday"}, headers=h)
    assert r.status_code == 422
    r = await client.get(f"{base}/burndown", headers=h)  # no sprint has started
    assert r.status_code == 422
    r = await client.get(f"{base}/burndown", params={"sprint_id": str(uuid.uuid4())}, headers=h)
    assert r.status_code == 404
    r = await client.get(f"{base}/velocity", params={"sprints": 0}, headers=h)
    assert r.status_code == 422
    r = await client.get(f"{base}/throughput", params={"format": "xml"}, headers=h)
    assert r.status_code == 422


async def test_reports_of_another_organisation_are_404(
    client: httpx.AsyncClient, alice: User, mallory: User, project: dict[str, Any]
) -> None:
    for name in ("burndown", "burnup", "cumulative-flow", "velocity", "cycle-time", "throughput"):
        r = await client.get(
            f"/api/v1/projects/{project['id']}/reports/{name}", headers=mallory.headers
        )
        assert r.status_code == 404, (name, r.text)
    r = await client.get(f"/api/v1/projects/{project['id']}/reports/velocity")
    assert r.status_code == 401


async def test_report_queries_use_their_indexes(stack: Any, db: Any) -> None:
    await db.execute("SET enable_seqscan = off")
    pid, sid = uuid.uuid4(), uuid.uuid4()

    async def plan(sql: str, *args: Any) -> str:
        return "\n".join(r[0] for r in await db.fetch("EXPLAIN " + sql, *args))

    assert "report_task_intervals_sprint_idx" in await plan(
        "SELECT * FROM report_task_intervals WHERE project_id = $1 AND sprint_id = $2", pid, sid
    )
    assert "report_status_days_pkey" in await plan(
        "SELECT * FROM report_status_days WHERE project_id = $1 AND day >= $2 AND day <= $3",
        pid,
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert "report_task_flow_done_idx" in await plan(
        "SELECT * FROM report_task_flow WHERE project_id = $1 AND done_at IS NOT NULL"
        " AND done_at >= $2 AND done_at < $3",
        pid,
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    )
