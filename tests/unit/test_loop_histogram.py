"""The lock-free histogram is exported exactly as prometheus_client's own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from storage import telemetry
from storage.telemetry import LoopHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0, 10.0)


def _exposition(registry: CollectorRegistry) -> list[str]:
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=50))
def test_same_buckets_count_and_sum_as_prometheus_client_s_histogram(
    amounts: list[float],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("lag_seconds", "help", buckets=BUCKETS, registry=theirs)
    histogram = LoopHistogram("lag_seconds", "help", buckets=BUCKETS, registry=ours)
    for amount in [*amounts, *BUCKETS]:  # the bounds themselves fall in their own bucket
        reference.observe(amount)
        histogram.observe(amount)
    assert _exposition(ours) == _exposition(theirs)


def test_the_fan_out_lag_reaches_the_process_snapshot() -> None:
    def count() -> float:
        family = next(f for f in telemetry.snapshot() if f["name"] == "taskhive_fanout_lag_seconds")
        return float(sum(v for name, _, v in family["samples"] if name.endswith("_count")))

    before = count()
    telemetry.FANOUT_LAG_SECONDS.observe(0.02)
    assert count() == before + 1
