"""The rank index answers what sorting every card would, also mid-batch."""

from __future__ import annotations

import dataclasses
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.rank_index import RankIndex
from actors.stage import _Stage
from actors.views import in_board_order
from domain import ranks as rank_rules
from domain.tasks import Task
from tests.unit.factories import make_project, make_task

PROJECT = make_project()
STATUSES = list(PROJECT.statuses)

ranks = st.sampled_from(["", "1", "2", "5", "55", "5i", "a", "az", "b", "i", "i1", "z"])
statuses = st.sampled_from(STATUSES)


def task(number: int, rank: str, status: str) -> Task:
    return make_task(PROJECT, number, rank=rank, status=status)


@st.composite
def staged(draw: st.DrawFn) -> tuple[dict[UUID, Task], _Stage, list[Task]]:
    """Committed cards, and a stage whose batch moved, created and deleted some."""
    cards = [task(n, draw(ranks), draw(statuses)) for n in range(1, draw(st.integers(0, 25)) + 1)]
    committed = {t.id: t for t in cards}
    stage = _Stage(PROJECT, committed, ranks=RankIndex(cards))
    for card in cards:
        change = draw(st.sampled_from(["keep", "keep", "move", "delete"]))
        if change == "move":
            stage.put(dataclasses.replace(card, rank=draw(ranks), status=draw(statuses)))
        elif change == "delete":
            stage._overlay[card.id] = None  # as `_delete` leaves it
    for n in range(draw(st.integers(0, 3))):
        stage.put(task(100 + n, draw(ranks), draw(statuses)))
    return committed, stage, list(stage.tasks.values())


@settings(max_examples=300, deadline=None)
@given(staged(), ranks, statuses, st.integers(0, 30))
def test_neighbours_match_a_full_sort(
    case: tuple[dict[UUID, Task], _Stage, list[Task]], rank: str, status: str, pick: int
) -> None:
    _, stage, current = case
    moving = current[pick % len(current)].id if current else uuid4()
    others = sorted(t.rank for t in current if t.id != moving and t.rank)
    assert stage.rank_after(rank, moving) == next((r for r in others if r > rank), None)
    assert stage.rank_before(rank, moving) == next((r for r in reversed(others) if r < rank), None)
    column = [t.rank for t in current if t.status == status and t.id != moving]
    assert stage.column_last(status, moving) == max(column, default=None)
    assert stage.max_rank_except(moving) == (others[-1] if others else None)
    assert stage.max_rank() == max((t.rank for t in current if t.rank), default=None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ranks, statuses), max_size=30), st.data())
def test_columns_follow_commits_in_board_order(
    rows: list[tuple[str, str]], data: st.DataObject
) -> None:
    cards = {t.id: t for t in (task(n, r, s) for n, (r, s) in enumerate(rows, start=1))}
    index = RankIndex(cards.values())
    for card in list(cards.values()):
        if data.draw(st.booleans()):
            new = dataclasses.replace(card, rank=data.draw(ranks), status=data.draw(statuses))
            index.replace(card, new)
            cards[card.id] = new
        elif data.draw(st.booleans()):
            index.remove(cards.pop(card.id))
    expected = in_board_order(cards.values())
    got = {s: list(c) for s, c in index.columns(cards).items()}
    assert got == expected
    for status, column in index.columns(cards).items():
        assert list(column[:2]) == expected[status][:2]
        assert len(column) == len(expected[status])
    assert len(index) == len(cards)


def test_a_rebalance_of_many_cards_stages_each_once() -> None:
    cards = [task(n, rank, STATUSES[0]) for n, rank in enumerate(rank_rules.spread(2000), start=1)]
    stage = _Stage(PROJECT, {t.id: t for t in cards}, ranks=RankIndex(cards))
    for card in cards:
        stage.put(dataclasses.replace(card, rank=card.rank + "i"))
        stage.put(dataclasses.replace(card, rank=card.rank + "k"))
    assert [t.rank for t in stage.batch.updated] == [t.rank + "k" for t in cards]
    assert stage.batch.created == []
