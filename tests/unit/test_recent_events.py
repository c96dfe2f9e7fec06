"""The relay's held events (`storage.outbox.RecentEvents`): consecutive runs per
project, replaced on a gap, never holding a large event, bounded in size."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from storage.outbox import RecentEvents, StoredEvent

ORG, ACTOR = uuid4(), uuid4()
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _events(project: UUID, first: int, last: int) -> list[StoredEvent]:
    return [
        StoredEvent(project, v, ORG, "task.updated", ACTOR, None, {"v": v}, AT)
        for v in range(first, last + 1)
    ]


def _versions(recent: RecentEvents, project: UUID) -> list[int]:
    return [e.version for e in recent.run(project)]


def test_events_that_follow_on_extend_the_run_and_a_gap_replaces_it() -> None:
    recent, p = RecentEvents(), uuid4()
    assert recent.run(p) == ()
    recent.hold(p, _events(p, 1, 3), ())
    recent.hold(p, _events(p, 4, 5), ())
    assert _versions(recent, p) == [1, 2, 3, 4, 5]
    recent.hold(p, _events(p, 9, 10), ())  # 6-8 were never read here
    assert _versions(recent, p) == [9, 10]
    assert len(recent) == 2


def test_holding_nothing_keeps_the_run() -> None:
    recent, p = RecentEvents(), uuid4()
    recent.hold(p, _events(p, 1, 2), ())
    recent.hold(p, [], ())
    assert _versions(recent, p) == [1, 2]


def test_a_run_starts_after_the_last_large_event() -> None:
    recent, p = RecentEvents(), uuid4()
    recent.hold(p, _events(p, 1, 2), ())
    recent.hold(p, _events(p, 3, 7), {4, 5})
    assert _versions(recent, p) == [6, 7]
    recent.hold(p, _events(p, 8, 8), {8})
    assert recent.run(p) == ()
    assert len(recent) == 0


def test_runs_are_capped_per_project_and_the_least_recent_project_goes_first() -> None:
    recent = RecentEvents(capacity=10, per_project=4)
    a, b, c = uuid4(), uuid4(), uuid4()
    recent.hold(a, _events(a, 1, 6), ())
    assert _versions(recent, a) == [3, 4, 5, 6]  # the newest four
    recent.hold(b, _events(b, 1, 4), ())
    recent.hold(a, [], ())  # a was used after b
    recent.hold(c, _events(c, 1, 3), ())  # 11 held: over capacity, b goes
    assert recent.run(b) == ()
    assert _versions(recent, a) == [3, 4, 5, 6]
    assert _versions(recent, c) == [1, 2, 3]
    assert len(recent) == 7


def test_a_run_is_never_changed_in_place() -> None:
    recent, p = RecentEvents(), uuid4()
    recent.hold(p, _events(p, 1, 2), ())
    before = recent.run(p)
    recent.hold(p, _events(p, 3, 4), ())
    assert [e.version for e in before] == [1, 2]


def test_a_consumer_catching_up_from_behind_extends_the_run_at_its_front() -> None:
    recent, p = RecentEvents(), uuid4()
    recent.hold(p, _events(p, 10, 20), ())
    recent.hold(p, _events(p, 5, 12), ())  # reaches into the run
    assert _versions(recent, p) == list(range(5, 21))
    recent.hold(p, _events(p, 1, 4), ())  # ends just before it
    assert _versions(recent, p) == list(range(1, 21))
    assert len(recent) == 20
    recent.hold(p, _events(p, 30, 31), ())  # a gap after it: replaced
    assert _versions(recent, p) == [30, 31]
    recent.hold(p, _events(p, 27, 28), ())  # a gap before it: replaced
    assert _versions(recent, p) == [27, 28]
