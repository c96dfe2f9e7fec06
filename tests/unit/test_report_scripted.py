"""A scripted sprint, folded and reported with a fixed clock; every expected value
below was worked out by hand from the script.

The project is in America/New_York (UTC-5 in February), so some events land on a
different local day than their UTC date: A is done at 04:00Z on 4 February,
which is 23:00 on 3 February in New York.

    Feb 2 (Mon)  13:00Z sprint S1 created (plan: Feb 2 - Feb 6)
                 14:00Z A created todo est 5 in S1; B todo est 3 in S1; C todo est 2 in S1
                 14:15Z D created backlog, no estimate, no sprint
                 15:00Z S1 started: committed A, B, C = 3 tasks, 10 points
                 16:00Z A → in_progress
    Feb 3        15:00Z B → in_progress
                 18:00Z D joins S1 (scope +1 task, +0 points)
      (Feb 4 04:00Z = Feb 3 23:00 local) A → done
    Feb 4        16:00Z C re-estimated 2 → 4 (scope +2); 17:00Z D estimated 1 (scope +1)
    Feb 5        15:00Z B → done; 16:00Z E created todo (no sprint); 17:00Z E → done
                 20:00Z C leaves S1 (scope -1 task, -4 points)
    Feb 6        15:00Z D → in_progress
      (Feb 7 04:30Z = Feb 6 23:30 local) S1 completed: done A, B; D moves to the backlog
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import pytest

from reports.burndown import burndown_json, sprint_days
from reports.cycle import Cycle, cycle_time_json, velocity_json
from reports.flow import cumulative_flow, throughput
from reports.fold import TEMPLATE_CATEGORIES, Fold
from storage.outbox import StoredEvent
from storage.report_rows import DayChange, Effects, Interval

NY = ZoneInfo("America/New_York")
KANBAN = ("backlog", "todo", "in_progress", "in_review", "done")
NS = UUID("00000000-0000-0000-0000-00000000c0de")


def tid(name: str) -> UUID:
    return uuid5(NS, name)


PROJECT, ORG, ACTOR = tid("project"), tid("org"), tid("actor")
S1 = tid("S1")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Script:
    """Builds events in the shapes the grain writes them, numbered in order."""

    def __init__(self, project_id: UUID = PROJECT, org_id: UUID = ORG) -> None:
        self.project_id, self.org_id = project_id, org_id
        self.events: list[StoredEvent] = []

    def _add(self, when: str, type_: str, task: UUID | None, payload: dict[str, Any]) -> None:
        version = len(self.events) + 1
        self.events.append(
            StoredEvent(
                self.project_id, version, self.org_id, type_, ACTOR, task, payload, at(when)
            )
        )

    def sprint(self, when: str, type_: str, state: str, **extra: Any) -> None:
        sprint = {
            "id": str(S1),
            "project_id": str(self.project_id),
            "name": "Sprint 1",
            "goal": "",
            "start_date": "2026-02-02",
            "end_date": "2026-02-06",
            "state": state,
            "created_at": at("2026-02-02T13:00").isoformat(),
            "started_at": at("2026-02-02T15:00").isoformat() if state != "planned" else None,
            "completed_at": at("2026-02-07T04:30").isoformat() if state == "completed" else None,
        }
        self._add(when, type_, None, {"sprint": sprint, **extra})

    def create(
        self, when: str, name: str, status: str, estimate: float | None, sprint: bool
    ) -> None:
        task = {
            "id": str(tid(name)),
            "key": f"PR-{name}",
            "status": status,
            "estimate": estimate,
            "sprint_id": str(S1) if sprint else None,
        }
        self._add(when, "task.created", tid(name), {"task": task})

    def update(self, when: str, name: str, **changes: Any) -> None:
        changes = {k: (str(S1) if v == "S1" else v) for k, v in changes.items()}
        payload = {"task_id": str(tid(name)), "version": 2, "changes": changes, "from": {}}
        self._add(when, "task.updated", tid(name), payload)

    def scope(
        self, when: str, name: str, change: str, est: float | None, prev: float | None
    ) -> None:
        payload = {
            "sprint_id": str(S1),
            "task_id": str(tid(name)),
            "change": change,
            "estimate": est,
            "previous_estimate": prev,
        }
        self._add(when, "sprint.scope_changed", tid(name), payload)


def scripted_history(project_id: UUID = PROJECT, org_id: UUID = ORG) -> list[StoredEvent]:
    s = Script(project_id, org_id)
    s.sprint("2026-02-02T13:00", "sprint.created", "planned")
    s.create("2026-02-02T14:00", "A", "todo", 5.0, True)
    s.create("2026-02-02T14:05", "B", "todo", 3.0, True)
    s.create("2026-02-02T14:10", "C", "todo", 2.0, True)
    s.create("2026-02-02T14:15", "D", "backlog", None, False)
    ids = [str(tid(x)) for x in "ABC"]
    s.sprint("2026-02-02T15:00", "sprint.started", "active", task_ids=ids, estimate_total=10.0)
    s.update("2026-02-02T16:00", "A", status="in_progress")
    s.update("2026-02-03T15:00", "B", status="in_progress")
    s.update("2026-02-03T18:00", "D", sprint_id="S1")
    s.scope("2026-02-03T18:00", "D", "added", None, None)
    s.update("2026-02-04T04:00", "A", status="done")
    s.update("2026-02-04T16:00", "C", estimate=4.0)
    s.scope("2026-02-04T16:00", "C", "estimate_changed", 4.0, 2.0)
    s.update("2026-02-04T17:00", "D", estimate=1.0)
    s.scope("2026-02-04T17:00", "D", "estimate_changed", 1.0, None)
    s.update("2026-02-05T15:00", "B", status="done")
    s.create("2026-02-05T16:00", "E", "todo", None, False)
    s.update("2026-02-05T17:00", "E", status="done")
    s.update("2026-02-05T20:00", "C", sprint_id=None)
    s.scope("2026-02-05T20:00", "C", "removed", 4.0, 4.0)
    s.update("2026-02-06T15:00", "D", status="in_progress")
    s.sprint(
        "2026-02-07T04:30",
        "sprint.completed",
        "completed",
        completed_task_ids=[str(tid("A")), str(tid("B"))],
        moved_task_ids=[str(tid("D"))],
        moved_to="backlog",
    )
    s.update("2026-02-07T04:30", "D", sprint_id=None)
    return s.events


NOW = at("2026-03-01T12:00")


@pytest.fixture(scope="module")
def folded() -> Fold:
    fold = Fold(zone=NY, categories=dict(TEMPLATE_CATEGORIES))
    fold.apply_all(scripted_history())
    return fold


def _intervals(effects: Effects) -> list[Interval]:
    return list(effects.opened.values())


def _day_changes(effects: Effects) -> list[DayChange]:
    return [DayChange(d, s, c, t.count, t.estimate) for (d, s, c), t in effects.days.items()]


def test_burndown_by_hand(folded: Fold) -> None:
    sprint = folded.sprints[S1]
    scope = [c for c in folded.effects.scope if c.sprint_id == S1]
    days = sprint_days(
        sprint=sprint,
        intervals=[iv for iv in _intervals(folded.effects) if iv.sprint_id == S1],
        scope=scope,
        zone=NY,
        now=NOW,
    )
    body = burndown_json(sprint, days)
    got = [
        (
            d["date"],
            d["remaining_estimate"],
            d["remaining_count"],
            d["ideal_estimate"],
            [(c["change"], c["count_delta"], c["estimate_delta"]) for c in d["scope_changes"]],
        )
        for d in body["days"]
    ]
    assert got == [
        ("2026-02-02", 10.0, 3, 10.0, []),
        ("2026-02-03", 5.0, 3, 7.5, [("added", 1, 0.0)]),
        ("2026-02-04", 8.0, 3, 5.0, [("estimate_changed", 0, 2.0), ("estimate_changed", 0, 1.0)]),
        ("2026-02-05", 1.0, 1, 2.5, [("removed", -1, -4.0)]),
        ("2026-02-06", 1.0, 1, 0.0, []),
    ]
    assert (body["sprint"]["committed_count"], body["sprint"]["committed_estimate"]) == (3, 10.0)


def test_burnup_scope_and_done_by_hand(folded: Fold) -> None:
    days = sprint_days(
        sprint=folded.sprints[S1],
        intervals=_intervals(folded.effects),
        scope=folded.effects.scope,
        zone=NY,
        now=NOW,
    )
    assert [(d.scope_count, d.scope_estimate, d.done_count, d.done_estimate) for d in days] == [
        (3, Decimal(10), 0, Decimal(0)),
        (4, Decimal(10), 1, Decimal(5)),
        (4, Decimal(13), 1, Decimal(5)),
        (3, Decimal(9), 2, Decimal(8)),
        (3, Decimal(9), 2, Decimal(8)),  # the completion: A and B done, D left over
    ]


def test_cumulative_flow_by_hand(folded: Fold) -> None:
    statuses, days = cumulative_flow(
        _day_changes(folded.effects), first=date(2026, 2, 2), last=date(2026, 2, 6), order=KANBAN
    )
    assert statuses == list(KANBAN)
    assert [list(d.counts.values()) for d in days] == [
        # backlog, todo, in_progress, in_review, done
        [1, 2, 1, 0, 0],
        [1, 1, 1, 0, 1],
        [1, 1, 1, 0, 1],
        [1, 1, 0, 0, 3],
        [0, 1, 1, 0, 3],
    ]
    last = days[-1]
    assert last.categories == {"todo": 1, "in_progress": 1, "done": 3}
    assert last.estimates == {
        "backlog": 0,
        "todo": Decimal(4),
        "in_progress": Decimal(1),
        "in_review": 0,
        "done": Decimal(8),
    }


def test_cumulative_flow_starting_mid_history_carries_the_earlier_days(folded: Fold) -> None:
    _, days = cumulative_flow(
        _day_changes(folded.effects), first=date(2026, 2, 5), last=date(2026, 2, 5), order=KANBAN
    )
    assert list(days[0].counts.values()) == [1, 1, 0, 0, 3]


def test_the_same_history_in_utc_puts_a_done_a_day_later() -> None:
    fold = Fold(zone=ZoneInfo("UTC"), categories=dict(TEMPLATE_CATEGORIES))
    fold.apply_all(scripted_history())
    _, days = cumulative_flow(
        _day_changes(fold.effects), first=date(2026, 2, 3), last=date(2026, 2, 4), order=KANBAN
    )
    assert [d.counts["done"] for d in days] == [0, 1]


def test_velocity_by_hand(folded: Fold) -> None:
    body = velocity_json([folded.sprints[S1]])
    row = body["sprints"][0]
    assert (row["committed_count"], row["committed_estimate"]) == (3, 10.0)
    assert (row["completed_count"], row["completed_estimate"]) == (2, 8.0)
    assert body["average_completed_estimate"] == 8.0


def test_cycle_time_by_hand(folded: Fold) -> None:
    flows = folded.flows
    cycles = [
        Cycle(f.task_id, f.key, f.started_at, f.done_at)
        for f in flows.values()
        if f.started_at and f.done_at
    ]
    body = cycle_time_json(
        cycles, without_start=sum(1 for f in flows.values() if f.done_at and not f.started_at)
    )
    # A: Feb 2 16:00Z → Feb 4 04:00Z = 1.5 days; B: Feb 3 15:00Z → Feb 5 15:00Z = 2 days.
    assert [(t["key"], t["cycle_time_days"]) for t in body["tasks"]] == [
        ("PR-A", 1.5),
        ("PR-B", 2.0),
    ]
    assert body["done_without_start"] == 1  # E went from todo straight to done
    p = body["percentiles_days"]
    assert p["p50"] == 1.75
    assert p["p85"] == pytest.approx(1.925, abs=1e-12)
    assert p["p95"] == pytest.approx(1.975, abs=1e-12)
    assert flows[tid("D")].started_at == at("2026-02-06T15:00") and flows[tid("D")].done_at is None


def test_throughput_counts_the_local_week() -> None:
    done = [at("2026-02-04T04:00"), at("2026-02-05T15:00"), at("2026-02-09T04:00")]
    # The last is Sunday Feb 8, 23:00 in New York: still the first week.
    assert throughput(done, zone=NY, first=date(2026, 2, 2), last=date(2026, 2, 15)) == [
        (date(2026, 2, 2), 3),
        (date(2026, 2, 9), 0),
    ]


def _chunks(events: list[StoredEvent], size: int) -> Iterator[list[StoredEvent]]:
    for i in range(0, len(events), size):
        yield events[i : i + size]


def test_folding_in_runs_equals_folding_at_once(folded: Fold) -> None:
    """What the consumer does (runs of events, starting from the open intervals it
    reloads) ends with the same tasks and tallies as one pass (the rebuild)."""
    tasks: dict[UUID, Interval] = {}
    flows: dict[UUID, Any] = {}
    sprints: dict[UUID, Any] = {}
    categories = dict(TEMPLATE_CATEGORIES)
    days: dict[Any, tuple[int, Decimal]] = {}
    for run in _chunks(scripted_history(), 4):
        fold = Fold(zone=NY, categories=categories, tasks=tasks, flows=flows, sprints=sprints)
        effects = fold.apply_all(run)
        for key, tally in effects.days.items():
            count, est = days.get(key, (0, Decimal(0)))
            days[key] = (count + tally.count, est + tally.estimate)
        tasks, flows, sprints, categories = fold.tasks, fold.flows, fold.sprints, fold.categories
    assert tasks == folded.tasks and flows == folded.flows and sprints == folded.sprints
    assert days == {k: (t.count, t.estimate) for k, t in folded.effects.days.items()}
