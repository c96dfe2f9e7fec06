"""What the notification consumer pays per event as tasks age: the task just
before each event folded across batches (`realtime.task_folds.TaskFolds`),
against reading and folding the task's whole history for every batch (what the
consumer did before), on the same events in the same run.

A scratch database (migrated) gets synthetic committed events, one project per
history length H: `--tasks` tasks, each created and then renamed H times, their
events interleaved. The project's last `--events` events are then handed over
in consecutive batches of `--batch`, as the relay hands them to a consumer, and
each side computes every event's task before and after it. The two must agree.
The first batch is timed apart: there both read each task's history once; the
speed-up is that of the batches after it.

    python -m bench.task_folds --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.host_writes import on_scratch_database
from bench.report import save
from domain import notifications as rules
from realtime.task_folds import TaskFolds
from storage import outbox
from storage.db import create_engine, driver_connection
from storage.outbox import StoredEvent

RESULTS_DIR = Path(__file__).parent / "results"


def _project_events(
    project: uuid.UUID, org: uuid.UUID, actor: uuid.UUID, history: int, tasks: int
) -> list[tuple[Any, ...]]:
    """`tasks` tasks created, then each renamed `history` times, interleaved."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(tasks)]
    kinds: list[tuple[uuid.UUID, str, dict[str, Any]]] = []
    for n, task_id in enumerate(ids):
        task = {
            "id": str(task_id),
            "key": f"B-{n + 1}",
            "title": "t0",
            "description": "",
            "status": "todo",
            "assignee_id": str(actor),
            "reporter_id": str(actor),
        }
        kinds.append((task_id, rules.TASK_CREATED, {"task": task}))
    for k in range(1, history + 1):
        for task_id in ids:
            payload = {"task_id": str(task_id), "changes": {"title": f"t{k}"}}
            kinds.append((task_id, rules.TASK_UPDATED, payload))
    return [
        (project, v, org, kind, actor, task_id, orjson.dumps(payload).decode(), now)
        for v, (task_id, kind, payload) in enumerate(kinds, start=1)
    ]


async def _seed(url: str, histories: list[int], tasks: int) -> dict[int, uuid.UUID]:
    """One project per history length; returns them by length."""
    org, actor = uuid.uuid4(), uuid.uuid4()
    projects = {history: uuid.uuid4() for history in histories}
    engine = create_engine(url, pool_size=1)
    try:
        async with driver_connection(engine) as conn:
            for history, project in projects.items():
                await conn.executemany(
                    "INSERT INTO events (project_id, version, org_id, type, actor_id, task_id,"
                    " payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8)",
                    _project_events(project, org, actor, history, tasks),
                )
    finally:
        await engine.dispose()
    return projects


def _wanted(e: StoredEvent) -> bool:
    return e.type in rules.NOTIFYING_EVENTS


async def _whole_history(conn: AsyncConnection, events: list[StoredEvent]) -> list[Any]:
    """The consumer's former way: each task's history read and folded per batch."""
    states: dict[uuid.UUID, rules.TaskSnapshot | None] = {}
    out = []
    for e in events:
        if not _wanted(e) or e.task_id is None:
            continue
        if e.task_id not in states:
            found = await outbox.task_histories(
                conn, e.project_id, {e.task_id: -1}, before=e.version
            )
            states[e.task_id] = rules.fold_task(found.get(e.task_id, []))
        before = states[e.task_id]
        states[e.task_id] = after = rules.apply_event(before, e.type, e.payload)
        out.append((e.version, before, after))
    return out


async def _measure(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    projects = await _seed(url, args.histories, args.tasks)
    engine = create_engine(url, pool_size=1)
    rows: list[dict[str, Any]] = []
    try:
        for history, project in projects.items():
            async with engine.connect() as conn:
                total = args.tasks * (history + 1)
                start = max(0, total - args.events)
                events = await outbox.read_events(conn, project, after=start, limit=args.events)
                batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
                result: dict[str, Any] = {"history": history, "events": len(events)}
                answers = []
                for name in ("whole_history", "folds"):
                    folds: TaskFolds[rules.TaskSnapshot] = TaskFolds(rules.apply_event)
                    got: list[Any] = []
                    timings = []  # (wall, cpu) of the first batch, then of the rest
                    for part in (batches[:1], batches[1:]):
                        wall, cpu = time.perf_counter(), time.process_time()
                        for batch in part:
                            if name == "whole_history":
                                got += await _whole_history(conn, batch)
                            else:
                                got += [
                                    (f.event.version, f.before, f.after)
                                    for f in await folds.fold(conn, batch, _wanted)
                                ]
                        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
                    rest = max(1, len(events) - len(batches[0]))
                    result[name] = {
                        "first_batch_ms": timings[0][0] * 1e3,
                        "us_per_event_wall": timings[1][0] / rest * 1e6,
                        "us_per_event_cpu": timings[1][1] / rest * 1e6,
                        "statements": folds.reads if name == "folds" else None,
                    }
                    answers.append(got)
                if answers[0] != answers[1]:
                    raise AssertionError(f"history {history}: the two ways disagree")
                whole, folded = result["whole_history"], result["folds"]
                result["speedup_wall"] = whole["us_per_event_wall"] / folded["us_per_event_wall"]
                rows.append(result)
                print(json.dumps(result), flush=True)
    finally:
        await engine.dispose()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--histories", default="10,100,1000,5000", help="changes per task")
    p.add_argument("--tasks", type=int, default=20, help="tasks per project")
    p.add_argument("--events", type=int, default=2000, help="events delivered per project")
    p.add_argument("--batch", type=int, default=20, help="events per delivered batch")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args()
    args.histories = [int(x) for x in args.histories.split(",")]
    rows = on_scratch_database(args.database_url, lambda url: _measure(url, args))
    lines = [
        "# What a notification costs as its task ages",
        "",
        f"`python -m bench.task_folds --histories {','.join(map(str, args.histories))} "
        f"--tasks {args.tasks} --events {args.events} --batch {args.batch}`: per history "
        f"length, {args.tasks} tasks in one project; their last events handed over in "
        f"batches of {args.batch}. Reference: each task's whole history read and folded "
        "per batch (the consumer before), same events, same run; both give the same "
        "answers.",
        "",
        "| changes per task | events | whole history: first batch ms, then µs/event (CPU) "
        "| folded: first batch ms, then µs/event (CPU) | statements (folded) | speed-up |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        w, f = r["whole_history"], r["folds"]
        lines.append(
            f"| {r['history']:,} | {r['events']:,} | {w['first_batch_ms']:,.1f}, "
            f"{w['us_per_event_wall']:,.0f} ({w['us_per_event_cpu']:,.0f}) | "
            f"{f['first_batch_ms']:,.1f}, {f['us_per_event_wall']:,.0f} "
            f"({f['us_per_event_cpu']:,.0f}) | {f['statements']} | {r['speedup_wall']:.0f}x |"
        )
    text = "\n".join(lines)
    print(text)
    save(args.out, "task-folds", rows, text)


if __name__ == "__main__":
    main()
