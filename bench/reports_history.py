"""The simulated year of the report benchmark: one project's tasks and their
history as events in the shapes the grain writes, written straight into the
tables (no HTTP). See `bench.reports`."""

from __future__ import annotations

import heapq
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from domain.workflow_templates import template

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
DAYS = 365
SPRINT_DAYS = 14
STEPS = ("todo", "in_progress", "in_review", "done")
ESTIMATES = (None, 1.0, 2.0, 3.0, 5.0, 8.0, 0.5)


# -- the simulated year --------------------------------------------------------------


@dataclass
class Sim:
    """Events of one project in commit order, made by replaying planned actions."""

    project_id: uuid.UUID
    org_id: uuid.UUID
    actor: uuid.UUID
    rng: random.Random
    events: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    sprints: list[uuid.UUID] = field(default_factory=list)
    active: uuid.UUID | None = None

    def emit(
        self, at: datetime, type_: str, task: uuid.UUID | None, payload: dict[str, Any]
    ) -> None:
        self.events.append(
            (
                self.project_id,
                len(self.events) + 1,
                self.org_id,
                type_,
                self.actor,
                task,
                orjson.dumps(payload).decode(),
                at,
            )
        )

    def sprint_json(
        self, index: int, state: str, started: datetime | None, done: datetime | None
    ) -> dict[str, Any]:
        first = (START + timedelta(days=index * SPRINT_DAYS)).date()
        return {
            "id": str(self.sprints[index]),
            "project_id": str(self.project_id),
            "name": f"Sprint {index + 1}",
            "goal": "",
            "start_date": first.isoformat(),
            "end_date": (first + timedelta(days=SPRINT_DAYS - 1)).isoformat(),
            "state": state,
            "created_at": START.isoformat(),
            "started_at": started.isoformat() if started else None,
            "completed_at": done.isoformat() if done else None,
        }

    def update(self, at: datetime, task_id: uuid.UUID, **changes: Any) -> None:
        task = self.tasks[task_id]
        before = {k: task[k] for k in changes}
        task.update(changes)
        task["version"] += 1
        self.emit(
            at,
            "task.updated",
            task_id,
            {
                "task_id": str(task_id),
                "version": task["version"],
                "changes": changes,
                "from": before,
            },
        )

    def scope(
        self, at: datetime, task_id: uuid.UUID, change: str, estimate: Any, previous: Any
    ) -> None:
        self.emit(
            at,
            "sprint.scope_changed",
            task_id,
            {
                "sprint_id": str(self.active),
                "task_id": str(task_id),
                "change": change,
                "estimate": estimate,
                "previous_estimate": previous,
            },
        )


def simulate(tasks: int, seed: int = 7) -> Sim:
    """A year: tasks created evenly, each walking the kanban statuses with random
    waits (a fifth stop early), some re-estimated; a sprint every two weeks takes
    about a third of new tasks, and a few join the running sprint."""
    rng = random.Random(seed)
    sim = Sim(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), rng)
    sprint_count = DAYS // SPRINT_DAYS
    sim.sprints = [uuid.uuid4() for _ in range(sprint_count)]
    plan: list[tuple[datetime, int, str, Any]] = []
    seq = 0

    def push(at: datetime, kind: str, arg: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(plan, (at, seq, kind, arg))

    for i in range(sprint_count):
        push(START + timedelta(days=i * SPRINT_DAYS, minutes=1), "sprint.created", i)
        push(START + timedelta(days=i * SPRINT_DAYS, hours=1), "sprint.started", i)
        push(START + timedelta(days=(i + 1) * SPRINT_DAYS, minutes=-1), "sprint.completed", i)
    span = timedelta(days=DAYS).total_seconds()
    for n in range(1, tasks + 1):
        push(START + timedelta(seconds=span * (n - 0.5) / tasks), "create", n)
    while plan:
        at, _, kind, arg = heapq.heappop(plan)
        if kind == "create":
            _create(sim, at, arg, push)
        elif kind == "step":
            _step(sim, at, arg, push)
        elif kind == "estimate":
            task = sim.tasks[arg]
            new = rng.choice(ESTIMATES[1:])
            if new != task["estimate"]:
                previous = task["estimate"]
                sim.update(at, arg, estimate=new)
                if task["sprint_id"] is not None and task["sprint_id"] == str(sim.active):
                    sim.scope(at, arg, "estimate_changed", new, previous)
        else:
            _sprint_event(sim, at, kind, arg)
    return sim


def _create(sim: Sim, at: datetime, n: int, push: Any) -> None:
    rng = sim.rng
    task_id = uuid.uuid4()
    index = min(int((at - START) / timedelta(days=SPRINT_DAYS)), len(sim.sprints) - 1)
    sprint: uuid.UUID | None = None
    roll = rng.random()
    if roll < 0.3 and index + 1 < len(sim.sprints):
        sprint = sim.sprints[index + 1]  # planned for the next sprint
    elif roll < 0.35 and sim.active is not None:
        sprint = sim.active  # joins the running sprint: a scope change
    task = {
        "id": str(task_id),
        "key": f"BENCH-{n}",
        "status": "backlog",
        "estimate": rng.choice(ESTIMATES),
        "sprint_id": str(sprint) if sprint else None,
        "version": 1,
        "number": n,
        "created_at": at,
    }
    sim.tasks[task_id] = task
    sim.emit(
        at,
        "task.created",
        task_id,
        {"task": {k: v for k, v in task.items() if k not in ("version", "number", "created_at")}},
    )
    if sprint is not None and sprint == sim.active:
        sim.scope(at, task_id, "added", task["estimate"], None)
    if rng.random() < 0.1:
        push(at + timedelta(hours=rng.uniform(1, 96)), "estimate", task_id)
    last = len(STEPS) if rng.random() < 0.8 else rng.randrange(0, len(STEPS))
    wait = at
    for step in range(last):
        wait += timedelta(hours=rng.expovariate(1 / 40))
        push(wait, "step", (task_id, STEPS[step]))


def _step(sim: Sim, at: datetime, arg: tuple[uuid.UUID, str], push: Any) -> None:
    task_id, status = arg
    sim.update(at, task_id, status=status)


def _sprint_event(sim: Sim, at: datetime, kind: str, index: int) -> None:
    sprint_id = sim.sprints[index]
    key = str(sprint_id)
    if kind == "sprint.created":
        sim.emit(at, kind, None, {"sprint": sim.sprint_json(index, "planned", None, None)})
        return
    started = START + timedelta(days=index * SPRINT_DAYS, hours=1)
    members = [tid for tid, t in sim.tasks.items() if t["sprint_id"] == key]
    if kind == "sprint.started":
        sim.active = sprint_id
        total = sum(sim.tasks[t]["estimate"] or 0.0 for t in members)
        sim.emit(
            at,
            kind,
            None,
            {
                "sprint": sim.sprint_json(index, "active", started, None),
                "task_ids": [str(t) for t in members],
                "estimate_total": total,
            },
        )
        return
    done = [t for t in members if sim.tasks[t]["status"] == "done"]
    moved = [t for t in members if sim.tasks[t]["status"] != "done"]
    sim.active = None
    sim.emit(
        at,
        kind,
        None,
        {
            "sprint": sim.sprint_json(index, "completed", started, at),
            "completed_task_ids": [str(t) for t in done],
            "moved_task_ids": [str(t) for t in moved],
            "moved_to": "backlog",
        },
    )
    for t in moved:
        sim.update(at, t, sprint_id=None)


# -- writing it -------------------------------------------------------------------------


async def write(conn: asyncpg.Connection, sim: Sim) -> None:
    user = sim.actor
    await conn.execute("INSERT INTO orgs (id, name) VALUES ($1, 'Bench')", sim.org_id)
    await conn.execute(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, 'Bench', 'x')",
        user,
        f"bench-{user.hex[:8]}@example.com",
    )
    await conn.execute(
        "INSERT INTO projects (id, org_id, key, name, owner_id, version, task_seq, workflow,"
        " time_zone) VALUES ($1, $2, 'BENCH', 'Bench', $3, $4, $5, $6::jsonb, $7)",
        sim.project_id,
        sim.org_id,
        user,
        len(sim.events),
        len(sim.tasks),
        json.dumps(template().as_json()),
        ZONE.key,
    )
    await conn.copy_records_to_table(
        "events",
        records=sim.events,
        columns=[
            "project_id",
            "version",
            "org_id",
            "type",
            "actor_id",
            "task_id",
            "payload",
            "created_at",
        ],
    )
    end = START + timedelta(days=DAYS)
    await conn.copy_records_to_table(
        "tasks",
        records=[
            (
                sim.project_id,
                tid,
                sim.org_id,
                t["number"],
                t["key"],
                f"Task {t['number']}",
                t["status"],
                user,
                t["created_at"],
                end,
                t["version"],
                t["estimate"],
                uuid.UUID(t["sprint_id"]) if t["sprint_id"] else None,
            )
            for tid, t in sim.tasks.items()
        ],
        columns=[
            "project_id",
            "id",
            "org_id",
            "number",
            "key",
            "title",
            "status",
            "reporter_id",
            "created_at",
            "updated_at",
            "version",
            "estimate",
            "sprint_id",
        ],
    )
    # A database that has lived with this data has statistics for it.
    await conn.execute("ANALYZE events")
    await conn.execute("ANALYZE tasks")
