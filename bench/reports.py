"""Report benchmark: burndown and cumulative flow over a project with 100,000 tasks
and a year of history, against a naive replay of the raw event log.

    python -m bench.reports [--tasks 100000] [--database-url postgresql://...]

It makes a throw-away database (on `--database-url`, else an embedded
PostgreSQL), writes a simulated year straight into the tables (no HTTP): the
tasks, and their history as events in the shapes the grain writes (created,
moved backlog → todo → in progress → in review → done, re-estimated, sprints
started and completed every two weeks, scope changes), then folds it with the
rebuild, and times what the two endpoints run (their queries and computations,
no HTTP) over many calls. The reference in the same run is the naive way: read
the project's whole event log and replay it. Both answers are compared, so the
bench doubles as a check that the tables say what the log says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.reports_history import DAYS, START, ZONE, simulate, write
from domain.workflow_templates import template
from reports import burndown as burn
from reports import flow as flows
from reports.days import day_end, each_day, local_day
from reports.rebuild import rebuild_project
from storage import reports as store
from storage.db import create_engine
from storage.embedded import EmbeddedPostgres
from storage.migrate import upgrade

RESULTS_DIR = Path(__file__).parent / "results"


# -- the naive reference: replay the raw log --------------------------------------------


async def naive(
    conn: asyncpg.Connection, project_id: uuid.UUID, sprint_id: uuid.UUID, first: date, last: date
) -> tuple[list[dict[str, int]], list[float]]:
    """Cumulative flow counts per day and the sprint's remaining estimate per day
    (until the day it completed), by replaying every event of the project."""
    rows = await conn.fetch(
        "SELECT type, task_id, payload::text AS payload, created_at FROM events"
        " WHERE project_id = $1 ORDER BY version",
        project_id,
    )
    status: dict[Any, str] = {}
    estimate: dict[Any, float] = {}
    sprint: dict[Any, str | None] = {}
    key = str(sprint_id)
    counts: dict[date, dict[str, int]] = {}
    remaining: list[float] = []
    started = completed = None
    cursor = first
    boundary = day_end(cursor, ZONE)

    def snapshot_until(at: datetime) -> None:
        nonlocal cursor, boundary
        while cursor <= last and at >= boundary:
            tally: dict[str, int] = {}
            for s in status.values():
                tally[s] = tally.get(s, 0) + 1
            counts[cursor] = tally
            if started is not None and completed is None and cursor >= started:
                remaining.append(
                    sum(
                        estimate[t] or 0.0
                        for t, sp in sprint.items()
                        if sp == key and status[t] != "done"
                    )
                )
            cursor += timedelta(days=1)
            boundary = day_end(cursor, ZONE)

    for r in rows:
        snapshot_until(r["created_at"])
        p = json.loads(r["payload"])
        t = r["task_id"]
        if r["type"] == "task.created":
            status[t], estimate[t], sprint[t] = (
                p["task"]["status"],
                p["task"]["estimate"],
                p["task"]["sprint_id"],
            )
        elif r["type"] == "task.updated":
            c = p["changes"]
            status[t] = c.get("status", status[t])
            estimate[t] = c.get("estimate", estimate[t])
            sprint[t] = c.get("sprint_id", sprint[t])
        elif r["type"] == "sprint.started" and p["sprint"]["id"] == key:
            started = local_day(r["created_at"], ZONE)
        elif r["type"] == "sprint.completed" and p["sprint"]["id"] == key:
            completed = local_day(r["created_at"], ZONE)
            # The completion day shows the sprint as it closed, like the report.
            remaining.append(
                sum(
                    estimate[x] or 0.0
                    for x, sp in sprint.items()
                    if sp == key and status[x] != "done"
                )
            )
    snapshot_until(datetime.max.replace(tzinfo=UTC))
    return [counts[d] for d in each_day(first, last)], remaining


# -- timing -------------------------------------------------------------------------------


@contextmanager
def timer(samples: list[float], cpu: list[float] | None = None) -> Iterator[None]:
    """Wall time of the block into `samples`; this process's CPU time into `cpu`
    (what the API replica would spend, less sensitive to a busy machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    yield
    samples.append((time.perf_counter() - t0) * 1000)
    if cpu is not None:
        cpu.append((time.process_time() - c0) * 1000)


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(url: str, tasks: int, iterations: int, naive_runs: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    sim = simulate(tasks)
    simulated_s = time.perf_counter() - t0
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    t0 = time.perf_counter()
    await write(conn, sim)
    written_s = time.perf_counter() - t0
    engine = create_engine(url, pool_size=2)
    try:
        t0 = time.perf_counter()
        rebuilt = await rebuild_project(engine, sim.project_id)
        rebuild_s = time.perf_counter() - t0
        last = local_day(START + timedelta(days=DAYS - 1), ZONE)
        first = last - timedelta(days=364)
        sprint_id = sim.sprints[len(sim.sprints) // 2]
        order = template().ids
        burndown_ms: list[float] = []
        flow_ms: list[float] = []
        burndown_cpu: list[float] = []
        flow_cpu: list[float] = []
        now = datetime.now(UTC)
        load_before = os.getloadavg()[0]
        for _ in range(iterations):
            with timer(burndown_ms, burndown_cpu):
                async with engine.connect() as c:
                    sprint = await store.sprint(c, sim.project_id, sprint_id)
                    assert sprint is not None
                    instants = burn.tally_instants(sprint=sprint, zone=ZONE, now=now)
                    tallies = await store.sprint_tallies(c, sim.project_id, sprint_id, instants)
                    scope = await store.sprint_scope(c, sim.project_id, sprint_id)
                days = burn.sprint_days(
                    sprint=sprint, tallies=tallies, scope=scope, zone=ZONE, now=now
                )
                burn.burndown_json(sprint, days)
            with timer(flow_ms, flow_cpu):
                async with engine.connect() as c:
                    changes = await store.day_changes(c, sim.project_id, first, last)
                statuses, flow_days = flows.cumulative_flow(
                    changes, first=first, last=last, order=order
                )
                flows.flow_json(statuses, flow_days)
        load_after = os.getloadavg()[0]
        naive_ms: list[float] = []
        for _ in range(naive_runs):
            with timer(naive_ms):
                naive_counts, naive_remaining = await naive(
                    conn, sim.project_id, sprint_id, first, last
                )
        async with engine.connect() as c:
            intervals = await store.sprint_intervals(c, sim.project_id, sprint_id)
        assert sprint is not None
        swept = burn.sprint_days(
            sprint=sprint, intervals=intervals, scope=scope, zone=ZONE, now=now
        )
        ours_counts = [{k: v for k, v in d.counts.items() if v} for d in flow_days]
        ours_remaining = [
            float(d.remaining_estimate) for d in days if d.remaining_estimate is not None
        ]
        agree = {
            "cumulative_flow_equals_replay": ours_counts == naive_counts,
            "burndown_equals_replay": ours_remaining == naive_remaining,
            "burndown_sql_equals_python_sweep": swept == days,
        }
        sizes = {
            r["t"]: r["n"]
            for r in await conn.fetch(
                "SELECT 'report_task_intervals' t, count(*) n FROM report_task_intervals UNION ALL "
                "SELECT 'report_status_days', count(*) FROM report_status_days UNION ALL "
                "SELECT 'events', count(*) FROM events"
            )
        }
    finally:
        await engine.dispose()
        await conn.close()
    results = [
        {
            "scenario": "burndown (one sprint, mid-year)",
            "calls": iterations,
            "p50_ms": pct(burndown_ms, 50),
            "p99_ms": pct(burndown_ms, 99),
            "cpu_ms_mean": statistics.mean(burndown_cpu),
        },
        {
            "scenario": "cumulative flow (365 days)",
            "calls": iterations,
            "p50_ms": pct(flow_ms, 50),
            "p99_ms": pct(flow_ms, 99),
            "cpu_ms_mean": statistics.mean(flow_cpu),
        },
        {
            "scenario": "reference: replay of the raw event log (both reports)",
            "calls": naive_runs,
            "p50_ms": statistics.median(naive_ms),
            "p99_ms": max(naive_ms),
        },
    ]
    return {
        "name": "reports",
        "timestamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "settings": {"tasks": tasks, "days": DAYS, "zone": ZONE.key, "iterations": iterations},
        "data": {"events": len(sim.events), "sprints": len(sim.sprints), "tables": sizes},
        "setup_s": {
            "simulate": round(simulated_s, 1),
            "write": round(written_s, 1),
            "rebuild": round(rebuild_s, 1),
        },
        "rebuilt_events": rebuilt.events,
        # Other work on the machine skews the timings; this says how busy it was.
        "load_average_1m": {"before": load_before, "after": load_after, "cpus": os.cpu_count()},
        "results": results,
        "agreement": agree,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        "| scenario | calls | p50 ms | p99 ms | client CPU ms/call |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        cpu = f"{r['cpu_ms_mean']:.1f}" if "cpu_ms_mean" in r else "n/a"
        lines.append(
            f"| {r['scenario']} | {r['calls']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {cpu} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--iterations", type=int, default=200, help="timed calls per report")
    p.add_argument("--naive-runs", type=int, default=3, help="runs of the naive replay")
    p.add_argument("--database-url", help="a PostgreSQL server to make a throw-away database on")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args()

    async def on(server: str) -> dict[str, Any]:
        name = f"taskhive_bench_reports_{uuid.uuid4().hex[:8]}"
        admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
        c = await asyncpg.connect(admin)
        await c.execute(f'CREATE DATABASE "{name}"')
        await c.close()
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        try:
            await asyncio.to_thread(upgrade, url)
            return await run(url, args.tasks, args.iterations, args.naive_runs)
        finally:
            c = await asyncpg.connect(admin)
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await c.close()

    if args.database_url:
        report = asyncio.run(on(args.database_url))
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp)) as url:
            report = asyncio.run(on(url))
    text = table(report)
    print(text)
    print(f"setup: {report['setup_s']}; data: {report['data']}; agreement: {report['agreement']}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"reports-{report['timestamp']}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    md = [
        f"# Benchmark `reports`, {report['timestamp']}",
        "",
        f"One project, {report['settings']['tasks']:,} tasks, {report['data']['events']:,} events over "
        f"{DAYS} days ({ZONE.key}), {report['data']['sprints']} two-week sprints. Timed: the queries "
        "and computations of each endpoint, without HTTP. Reference: the naive replay of the raw "
        "event log, in the same run.",
        "",
        text,
        "",
        f"Setup (s): {report['setup_s']}. Agreement with the replay: {report['agreement']}.",
        f"Load average (1 min) around the timed calls: {report['load_average_1m']}.",
        "",
    ]
    (args.out / f"{stem}.md").write_text("\n".join(md))
    return 0 if all(report["agreement"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
