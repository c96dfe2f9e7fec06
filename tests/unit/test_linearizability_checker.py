"""The history checker itself: it accepts consistent histories and finds each kind
of anomaly in hand-written bad ones (so the integration check can fail)."""

from __future__ import annotations

from tests.linearizability import Op, violations


def w(client: str, start: float, end: float, version: int, value: str, key: str = "t1") -> Op:
    return Op(client, "write", key, start, end, version, value)


def r(client: str, start: float, end: float, version: int, value: str, key: str = "t1") -> Op:
    return Op(client, "read", key, start, end, version, value)


GOOD = [
    w("a", 0.0, 1.0, 2, "a1"),
    r("b", 0.5, 0.9, 1, "seed"),  # overlaps the write: the old version is allowed
    r("b", 1.1, 1.2, 2, "a1"),
    w("c", 1.0, 2.0, 3, "c1"),
    r("b", 1.5, 2.5, 3, "c1"),  # overlaps: the new version is allowed too
    r("d", 2.1, 2.2, 3, "c1"),
]


def test_a_consistent_history_passes() -> None:
    assert violations(GOOD, {"t1": (3, "c1")}) == []


def test_a_read_older_than_an_acknowledged_write_is_stale() -> None:
    bad = [*GOOD, r("e", 2.3, 2.4, 2, "a1")]
    [problem] = violations(bad, {"t1": (3, "c1")})
    assert problem.startswith("stale read of t1: e read v2")


def test_a_read_must_show_the_value_its_version_was_written_with() -> None:
    bad = [*GOOD, r("e", 2.3, 2.4, 3, "something else")]
    [problem] = violations(bad, {"t1": (3, "c1")})
    assert "read v3 of t1 as 'something else', written as 'c1'" in problem


def test_two_writes_with_one_version_are_found() -> None:
    bad = [*GOOD, w("e", 2.5, 2.6, 3, "e1")]
    problems = violations(bad, {"t1": (3, "c1")})
    assert any(p.startswith("two writes to t1 acknowledged version 3") for p in problems)


def test_a_client_never_sees_versions_go_backwards() -> None:
    # Both reads overlap the write, so each alone is allowed; in this order they are not.
    bad = [w("a", 0.0, 5.0, 2, "a1"), r("b", 1.0, 1.1, 2, "a1"), r("b", 1.2, 1.3, 1, "seed")]
    assert violations(bad, {"t1": (2, "a1")}) == ["b saw t1 go back from v2 to v1"]


def test_an_acknowledged_write_missing_from_the_final_state_is_lost() -> None:
    problems = violations(GOOD, {"t1": (2, "a1")})
    assert problems == ["lost write: t1 ends at v2, v3 was acknowledged"]
    assert violations(GOOD, {}) == ["lost write: t1 ends at v-1, v3 was acknowledged"]


def test_the_final_value_must_be_the_newest_write() -> None:
    assert violations(GOOD, {"t1": (3, "a1")}) == ["t1 ends at v3 as 'a1', written as 'c1'"]


def test_keys_are_checked_separately() -> None:
    other = [w("a", 0.0, 1.0, 7, "x", key="t2"), r("z", 2.0, 2.1, 2, "a1")]
    assert violations(GOOD + other, {"t1": (3, "c1"), "t2": (7, "x")}) == []
