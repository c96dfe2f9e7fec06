"""The search shard's commit cadence (`search.cadence`): 50 ms after a change on an
idle shard; under load, commits spaced a multiple of the last one's duration
apart, never more than the cap, so commit work stays bounded and a change is
searchable well within a second."""

from __future__ import annotations

import pytest

from search.cadence import Cadence

CADENCE = Cadence(floor_s=0.05, factor=8.0, cap_s=0.25)


@pytest.mark.parametrize(
    ("last_commit_s", "wait_s"),
    [
        (0.0, 0.05),  # the first commit
        (0.005, 0.05),
        (0.00625, 0.05),
        (0.01, 0.08),
        (0.02, 0.16),
        (0.03125, 0.25),
        (0.2, 0.25),
        (5.0, 0.25),
    ],
)
def test_right_after_a_commit_the_wait_follows_its_duration_up_to_the_cap(
    last_commit_s: float, wait_s: float
) -> None:
    assert CADENCE.wait_s(last_commit_s, 0.0) == pytest.approx(wait_s)


@pytest.mark.parametrize("last_commit_s", [0.0, 0.02, 0.1, 1.0])
def test_an_idle_shard_commits_a_change_after_the_floor(last_commit_s: float) -> None:
    assert CADENCE.wait_s(last_commit_s, since_commit_s=10.0) == 0.05


def test_the_spacing_counts_from_the_end_of_the_last_commit() -> None:
    assert CADENCE.wait_s(0.02, since_commit_s=0.1) == pytest.approx(0.06)
    assert CADENCE.wait_s(0.02, since_commit_s=0.13) == 0.05


@pytest.mark.parametrize("last_commit_s", [0.001, 0.01, 0.03, 0.05, 0.1, 0.3, 1.0])
def test_commits_take_a_bounded_share_of_the_time_below_the_cap(last_commit_s: float) -> None:
    wait = CADENCE.wait_s(last_commit_s, 0.0)
    share = last_commit_s / (last_commit_s + wait)
    if wait < CADENCE.cap_s and CADENCE.factor * last_commit_s >= CADENCE.floor_s:
        assert share == pytest.approx(1 / (CADENCE.factor + 1))
    assert share <= 1 / (CADENCE.factor + 1) + 1e-9 or wait == CADENCE.cap_s
    # Freshness: however slow commits get, the shard never waits longer than the cap.
    assert CADENCE.floor_s <= wait <= CADENCE.cap_s


def test_the_floor_wins_over_a_lower_cap() -> None:
    assert Cadence(floor_s=0.5, cap_s=0.25).wait_s(1.0, 0.0) == 0.5


def test_a_fixed_cadence_is_a_zero_factor() -> None:
    fixed = Cadence(floor_s=0.05, factor=0.0, cap_s=0.05)
    assert {fixed.wait_s(d, s) for d in (0.0, 0.01, 1.0) for s in (0.0, 1.0)} == {0.05}
