"""Fractional ranks in `domain.ranks`: ordering under any inserts, moves and rebalances."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import ranks
from domain.ranks import REBALANCE_LENGTH, between, is_rank, needs_rebalance, spread

PROPERTY = settings(database=None, deadline=None, max_examples=300)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (None, None),
        (None, "1"),
        ("a", "a1"),
        ("az", "b"),
        ("zz", None),
        ("0001", "0002"),
        ("9", "a"),
    ],
)
def test_between_is_strictly_between(low: str | None, high: str | None) -> None:
    key = between(low, high)
    assert is_rank(key)
    assert (low is None or low < key) and (high is None or key < high)


@pytest.mark.parametrize(("low", "high"), [("b", "a"), ("a", "a")])
def test_between_needs_order(low: str, high: str) -> None:
    with pytest.raises(ValueError):
        between(low, high)


def test_spread_is_ordered_and_short() -> None:
    for count in (1, 2, 35, 36, 1000, 50_000):
        ranks = spread(count)
        assert len(ranks) == count
        assert ranks == sorted(ranks) and len(set(ranks)) == count
        assert all(is_rank(r) for r in ranks)
        assert max(len(r) for r in ranks) <= 5


def test_inserting_at_the_top_grows_keys_until_a_rebalance() -> None:
    ranks = [between(None, None)]
    while not needs_rebalance(ranks):
        ranks.insert(0, between(None, ranks[0]))
    assert len(ranks) > 40  # about five inserts per character
    assert len(ranks[0]) == REBALANCE_LENGTH + 1


ops = st.lists(
    st.tuples(
        st.sampled_from(["insert", "move", "rebalance"]),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
    max_size=200,
)


@PROPERTY
@given(ops)
def test_ranks_stay_strictly_ordered_under_any_inserts_and_moves(
    steps: list[tuple[str, int, int]],
) -> None:
    cards: list[str] = []  # the board's total order, by rank
    for op, a, b in steps:
        if op == "rebalance":
            cards = spread(len(cards))
        elif op == "insert" or not cards:
            i = a % (len(cards) + 1)
            cards.insert(
                i, between(cards[i - 1] if i else None, cards[i] if i < len(cards) else None)
            )
        else:
            cards.pop(a % len(cards))  # take a card out and place it anywhere
            i = b % (len(cards) + 1)
            cards.insert(
                i, between(cards[i - 1] if i else None, cards[i] if i < len(cards) else None)
            )
        assert all(x < y for x, y in itertools.pairwise(cards))
        assert all(is_rank(x) for x in cards)


@pytest.mark.parametrize("low", [None, "", "i", "1", "zzzz", "i0001z", "zzzzzzzzzzzz"])
@pytest.mark.parametrize("count", [1, 2, 35, 200, 1000])
def test_after_many_gives_increasing_ranks_above_low_a_few_digits_longer(
    low: str | None, count: int
) -> None:
    made = ranks.after_many(low, count)
    assert len(made) == count
    assert all(ranks.is_rank(r) for r in made)
    assert made == sorted(made) and len(set(made)) == count
    assert made[0] > (low or "")
    # Room for the batch costs the digits of its size, not a character per five cards.
    assert max(map(len, made)) <= max(1, len(low or "")) + 2 + (count > 35 * 36)
    # Cards can still go after the last one.
    assert ranks.between(made[-1], None) > made[-1]


def test_after_many_of_nothing_is_empty() -> None:
    assert ranks.after_many("i", 0) == []


def test_appending_a_big_batch_one_by_one_grew_a_character_per_five_cards() -> None:
    """What `after_many` replaces for imports: 200 appends in turn pass the rebalance
    length many times over (the database column holds 64 characters)."""
    last = "i"
    for _ in range(200):
        last = ranks.between(last, None)
    assert len(last) > 32
    assert max(map(len, ranks.after_many("i", 200))) <= 3


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        ("y", None, "z"),  # one step up at the same length
        ("z", None, "z01"),  # the length is full: two digits more
        ("az", "b", "az01"),
        ("k4", "k5", "k401"),
        ("0001", "0002", "000101"),
        ("z0z", None, "z11"),  # never a trailing 0: the step skips it
        (None, None, "i"),  # the first card goes in the middle
    ],
)
def test_after_takes_the_smallest_step_up(low: str | None, high: str | None, expected: str) -> None:
    key = ranks.after(low, high)
    assert key == expected
    assert is_rank(key) and (low is None or low < key) and (high is None or key < high)


@pytest.mark.parametrize(("low", "high"), [("b", "a"), ("a", "a")])
def test_after_needs_order(low: str, high: str) -> None:
    with pytest.raises(ValueError):
        ranks.after(low, high)


@pytest.mark.parametrize("high", [None, "k5"])
def test_appending_after_the_last_append_grows_keys_slowly(high: str | None) -> None:
    """A new task at the end, or cards moved one after another to the end of a
    column (before the same next card): thousands of appends before a rebalance,
    where midpoints need about fifty."""
    keys = ["k4"]
    while not needs_rebalance(keys[-1:]):
        keys.append(ranks.after(keys[-1], high))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(is_rank(k) and (high is None or k < high) for k in keys)
    assert len(keys) > 6000
    midpoints = ["k4"]
    while not needs_rebalance(midpoints[-1:]):
        midpoints.append(between(midpoints[-1], high))
    assert len(midpoints) < 100


@PROPERTY
@given(st.lists(st.text(alphabet=ranks.DIGITS, min_size=1, max_size=8), min_size=2, max_size=2))
def test_after_lies_strictly_between_any_two_ranks(pair: list[str]) -> None:
    low, high = sorted(k.rstrip("0") or "1" for k in pair)
    if low == high:
        return
    key = ranks.after(low, high)
    assert is_rank(key) and low < key < high
    assert is_rank(ranks.after(low)) and ranks.after(low) > low
