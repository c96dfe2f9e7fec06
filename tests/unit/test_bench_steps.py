"""The benchmark's step arithmetic: exact percentiles, per-class limits, errors."""

from __future__ import annotations

from bench.steps import Acknowledged, best, percentile, summarise, sustainable


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
