"""The benchmark's step arithmetic: exact percentiles, per-class limits, errors,
and how rounds of a comparison are summarised."""

from __future__ import annotations

from bench.mixed import _schedule
from bench.mixed_report import taskhive_ratio
from bench.steps import (
    Acknowledged,
    best,
    best_rps,
    median_round,
    percentile,
    summarise,
    sustainable,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) == 0.0


def dump(read_ms: list[float], write_ms: list[float], failures: int = 0) -> dict[str, object]:
    return {
        "latencies_ms": {"read: get task": read_ms, "write: move": write_ms, "push: x": [9e9]},
        "failures": {"write: move": failures} if failures else {},
    }


def test_a_step_within_both_limits_is_sustainable() -> None:
    s = summarise(dump([10.0] * 99 + [150.0], [400.0] * 100), seconds=10)
    assert s["requests"] == 200 and s["rps"] == 20.0  # push messages are not requests
    assert s["classes"]["read"]["p99_ms"] == 10.0
    assert sustainable(s) == (True, [])


def test_each_class_has_its_own_limit() -> None:
    slow_reads = summarise(dump([10.0] * 98 + [250.0] * 2, [10.0] * 100), seconds=10)
    assert sustainable(slow_reads) == (False, ["read p99 250 ms ≥ 200"])
    slow_writes = summarise(dump([10.0] * 100, [10.0] * 98 + [600.0] * 2), seconds=10)
    assert sustainable(slow_writes) == (False, ["write p99 600 ms ≥ 500"])


def test_one_percent_of_errors_is_too_many() -> None:
    s = summarise(dump([10.0] * 100, [10.0] * 98, failures=2), seconds=10)
    assert s["error_rate"] == 0.01
    assert sustainable(s) == (False, ["errors 1.0 % ≥ 1 %"])


def test_the_best_step_is_the_fastest_sustainable_one() -> None:
    steps = [
        {"rps": 100.0, "sustainable": True},
        {"rps": 300.0, "sustainable": False},
        {"rps": 200.0, "sustainable": True},
    ]
    assert best(steps) == steps[2]
    assert best([steps[1]]) is None


def test_acknowledged_writes_keep_the_newest_version_per_task() -> None:
    acked = Acknowledged()
    acked.add({"tasks": {"a": 3, "b": 1}, "comments": ["c1"]})
    acked.add({"tasks": {"a": 2, "b": 5}, "comments": ["c2"]})
    assert acked.tasks == {"a": 3, "b": 5}
    assert acked.comments == ["c1", "c2"]


def _run(*rps: float, sustainable_: bool = True) -> list[dict[str, object]]:
    return [{"rps": r, "sustainable": sustainable_} for r in rps]


def test_the_median_round_is_the_middle_one_by_best_throughput() -> None:
    slow, middle, fast = _run(100.0, 300.0), _run(350.0, 200.0), _run(500.0)
    assert median_round([fast, slow, middle]) is middle
    assert median_round([fast, slow]) is slow  # the lower middle of an even count
    broken = _run(900.0, sustainable_=False)  # nothing sustainable counts as 0
    assert median_round([broken, fast, middle]) is middle
    assert best_rps(broken) == 0.0 and best_rps(fast) == 500.0


def test_the_ratio_over_rounds_is_the_median_of_each_round_s_ratio() -> None:
    summary = {"taskhive": {"rps": 400.0}, "monolith": {"rps": 500.0}}
    by_round = {"taskhive": [600.0, 390.0, 400.0], "monolith": [500.0, 650.0, 420.0]}
    # Rounds: 1.2, 0.6, 0.952 → 0.952, not 400 / 500 from the median rounds.
    assert taskhive_ratio(summary, by_round, "monolith") == 0.952
    one = {"taskhive": [400.0], "monolith": [500.0]}
    assert taskhive_ratio(summary, one, "monolith") == 0.8
    assert taskhive_ratio(summary, by_round, "ceiling") is None


def test_rounds_alternate_the_targets() -> None:
    assert _schedule(["taskhive", "monolith"], 2) == [
        (1, "taskhive"),
        (1, "monolith"),
        (2, "taskhive"),
        (2, "monolith"),
    ]
