"""The fold's rules beyond the scripted sprint: workflow edits, deletions, exact
estimates, recounting days in another zone, local days around DST."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from reports.days import day_end, day_start, local_day
from reports.fold import TEMPLATE_CATEGORIES, Fold, initial_categories, interval_days
from storage.outbox import StoredEvent
from storage.report_rows import to_decimal

PROJECT, ORG, ACTOR = uuid4(), uuid4(), uuid4()
T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _event(version: int, type_: str, task: UUID | None, payload: dict[str, Any]) -> StoredEvent:
    return StoredEvent(PROJECT, version, ORG, type_, ACTOR, task, payload, T0)


def _created(version: int, task: UUID, status: str, estimate: float | None = None) -> StoredEvent:
    body = {"id": str(task), "key": f"K-{version}", "status": status, "estimate": estimate}
    return _event(version, "task.created", task, {"task": body})


def _workflow(version: int, statuses: dict[str, str]) -> StoredEvent:
    wf = {"version": 2, "statuses": [{"id": k, "category": v} for k, v in statuses.items()]}
    return _event(version, "workflow.updated", None, {"workflow": wf, "moves": {}})


def test_recategorising_a_status_moves_its_tasks_to_the_new_category() -> None:
    a = uuid4()
    fold = Fold(zone=ZoneInfo("UTC"), categories=dict(TEMPLATE_CATEGORIES))
    fold.apply(_created(1, a, "in_review", 2.0))
    fold.apply(_workflow(2, {"todo": "todo", "in_review": "done", "done": "done"}))
    assert fold.tasks[a].category == "done" and fold.tasks[a].start_version == 2
    assert fold.flows[a].done_at == T0
    day = local_day(T0, ZoneInfo("UTC"))
    tallies = {k: (t.count, t.estimate) for k, t in fold.effects.days.items()}
    assert tallies == {
        (day, "in_review", "in_progress"): (0, Decimal(0)),  # opened and closed the same day
        (day, "in_review", "done"): (1, Decimal("2.0")),
    }


def test_a_deleted_task_leaves_the_counts_and_the_flow() -> None:
    a = uuid4()
    fold = Fold(zone=ZoneInfo("UTC"), categories=dict(TEMPLATE_CATEGORIES))
    fold.apply(_created(1, a, "todo", 1.0))
    fold.apply(_event(2, "task.deleted", a, {"task_id": str(a), "key": "K-1"}))
    assert a not in fold.tasks and fold.effects.flows[a] is None
    assert sum(t.count for t in fold.effects.days.values()) == 0


def test_estimates_add_and_remove_exactly() -> None:
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")  # type: ignore[operator]
    a = uuid4()
    fold = Fold(zone=ZoneInfo("UTC"), categories=dict(TEMPLATE_CATEGORIES))
    fold.apply(_created(1, a, "todo", 0.1))
    fold.apply(_event(2, "task.updated", a, {"changes": {"estimate": 0.7}}))
    fold.apply(_event(3, "task.updated", a, {"changes": {"estimate": 0.2}}))
    todo = [t for (d, s, c), t in fold.effects.days.items() if s == "todo"]
    assert [t.estimate for t in todo] == [Decimal("0.2")]


def test_unrelated_changes_open_no_interval() -> None:
    a = uuid4()
    fold = Fold(zone=ZoneInfo("UTC"), categories=dict(TEMPLATE_CATEGORIES))
    fold.apply(_created(1, a, "todo"))
    fold.apply(_event(2, "task.updated", a, {"changes": {"title": "x"}}))
    assert list(fold.effects.opened) == [(a, 1)]


def test_recounting_in_another_zone_equals_folding_in_it() -> None:
    a, b = uuid4(), uuid4()
    late = datetime(2026, 5, 4, 23, 30, tzinfo=UTC)
    events = [
        _created(1, a, "todo", 1.0),
        StoredEvent(
            PROJECT, 2, ORG, "task.created", ACTOR, b, _created(2, b, "todo").payload, late
        ),
        StoredEvent(
            PROJECT, 3, ORG, "task.updated", ACTOR, a, {"changes": {"status": "done"}}, late
        ),
    ]
    tokyo = ZoneInfo("Asia/Tokyo")
    in_utc = Fold(zone=ZoneInfo("UTC"), categories=dict(TEMPLATE_CATEGORIES))
    in_utc.apply_all(events)
    in_tokyo = Fold(zone=tokyo, categories=dict(TEMPLATE_CATEGORIES))
    in_tokyo.apply_all(events)
    recount = interval_days(in_utc.effects.opened.values(), tokyo)
    assert {k: (t.count, t.estimate) for k, t in recount.items()} == {
        k: (t.count, t.estimate) for k, t in in_tokyo.effects.days.items()
    }
    assert {d for d, _, _ in recount} == {date(2026, 5, 4), date(2026, 5, 5)}


def test_initial_categories_prefer_the_template_meaning() -> None:
    edited = {
        "statuses": [
            {"id": "in_review", "category": "done"},
            {"id": "qa", "category": "in_progress"},
        ]
    }
    got = initial_categories(edited)
    assert got["in_review"] == "in_progress" and got["qa"] == "in_progress"


def test_a_day_that_skips_midnight_starts_when_the_clocks_do() -> None:
    # Santiago moved from UTC-4 to UTC-3 at 00:00 on 2026-09-06: 00:00 never happened.
    zone = ZoneInfo("America/Santiago")
    start = day_start(date(2026, 9, 6), zone)
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert start.astimezone(zone).hour == 1
    assert day_end(date(2026, 9, 5), zone) == start
    assert local_day(start, zone) == date(2026, 9, 6)
