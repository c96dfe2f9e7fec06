"""The real-time benchmark's arithmetic: titles, the listener's output, latencies, CPU roles."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from bench import cpu
from bench.realtime import (
    cpu_by_role,
    cpu_role,
    expected_deliveries,
    latency_fields,
    parse_deliveries,
    percentile,
)
from bench.realtime_writer import make_title, title_send_ns


def test_titles_are_unique_and_carry_the_send_time() -> None:
    a, b = make_title(123_456_789, 0), make_title(123_456_789, 1)
    assert a != b
    assert a.startswith("t=")
    assert title_send_ns(a) == title_send_ns(b) == 123_456_789
    with pytest.raises(ValueError):
        title_send_ns("x")


def test_parse_deliveries_reads_tab_separated_lines() -> None:
    text = "t=10:0\t25\nt=11:1\t40\n\n"
    assert parse_deliveries(text) == [("t=10:0", 25), ("t=11:1", 40)]
    assert parse_deliveries("") == []


def test_percentile_is_nearest_rank_and_nan_when_empty() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert math.isnan(percentile([], 99))


def test_expected_deliveries_counts_the_sessions_watching_each_project() -> None:
    # 5 sessions over 2 projects: a watched by sessions 0, 2, 4; b by 1, 3.
    writes = Counter({"a": 2, "b": 1})
    assert expected_deliveries(writes, ["a", "b"], 5) == 2 * 3 + 1 * 2


def test_latency_fields_from_send_receive_and_ack_times() -> None:
    ms = 1_000_000
    sent = make_title(0, 0)
    acked = {sent: 10 * ms}
    deliveries = [(sent, 5 * ms), (sent, 30 * ms)]  # one before the ack, one after
    row = latency_fields(deliveries, acked, expected=4)
    assert row["deliveries"] == 2
    assert row["delivery_ratio"] == 0.5
    assert row["p50_ms"] == 5.0
    assert row["p99_ms"] == 30.0
    assert row["after_ack_p50_ms"] == 0.0  # arrived before the ack: no lag
    assert row["after_ack_p99_ms"] == 20.0
    assert row["mean_ms"] == 17.5
    empty = latency_fields([], {}, expected=0)
    assert empty["delivery_ratio"] == 0.0
    assert math.isnan(empty["p99_ms"])


def test_cpu_roles() -> None:
    assert cpu_role("bench driver") == "driver"
    assert cpu_role("ray::ServeReplica:taskhive:api") == "api replica"
    assert cpu_role("ray::ServeReplica:taskhive-realtime:realtime") == "realtime replica"
    assert cpu_role("ray::ProjectHost") == "project hosts"
    assert cpu_role("ray::OutboxActor") == "outbox"
    assert cpu_role("ray::SearchShard") == "search"
    assert cpu_role("postgres") == "postgres"
    assert cpu_role("redis-server") == "redis"
    assert cpu_role("ray::ProxyActor") == "proxy"
    assert cpu_role("haproxy") == "proxy"
    assert cpu_role("raylet") == "other"


def _snapshot(at: float, cpu_s: dict[int, tuple[str, float]]) -> cpu.Snapshot:
    """`at` seconds in, one CPU busy all along; `cpu_s`: pid → (label, CPU seconds)."""
    return cpu.Snapshot(at=at, busy_s=at, ours=cpu_s, reaped_children_s=0.0)


def test_cpu_by_role_splits_the_listener_and_the_writer_out_by_pid() -> None:
    labels = {1: "bench driver", 2: "node", 3: "ray::ServeReplica:x", 4: "raylet", 5: "python"}
    before = _snapshot(
        0.0, {pid: (labels[pid], s) for pid, s in {1: 1.0, 2: 0, 3: 0, 5: 0}.items()}
    )
    after = _snapshot(
        2.0, {pid: (labels[pid], s) for pid, s in {1: 1.5, 2: 1.0, 3: 0.4, 4: 0.1, 5: 0.3}.items()}
    )
    used = cpu_by_role(before, after, {2}, writer_pid=5)
    assert used["listener"] == 50.0
    assert used["writer"] == 15.0
    assert used["driver"] == 25.0
    assert used["api replica"] == 20.0
    assert used["other"] == 5.0
    assert used["other_by_process"] == {"raylet": 5.0}
    assert used["machine"] == 100.0
    assert cpu_by_role(before, after, {2})["other_by_process"] == {"raylet": 5.0, "python": 15.0}
    assert cpu_by_role(before, after, set())["listener"] is None
