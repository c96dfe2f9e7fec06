"""The cost-growth report: ratios, the verdict and the per-process table."""

from __future__ import annotations

from typing import Any

from bench import scale


def step(rps: float, read_p99: float, write_p99: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "rps": rps,
        "failures": 0,
        "classes": {"read": {"p99_ms": read_p99}, "write": {"p99_ms": write_p99}},
        "cpu": {"ours_by_process_pct": cpu},
    }


def test_cpu_per_request_is_percent_of_a_core_over_throughput() -> None:
    got = scale.summary(step(500.0, 30, 60, {"ray::ServeReplica:taskhive:api#x": 50.0}))
    # 50 % of a core at 500 req/s: 1 ms of CPU per request.
    assert got["cpu_ms_per_request"] == {"API replica": 1.0}
    assert (got["read_p99_ms"], got["write_p99_ms"]) == (30, 60)


def test_the_verdict_bounds_throughput_and_both_p99s() -> None:
    base = scale.summary(step(1000.0, 30, 60, {}))
    close = scale.summary(step(850.0, 35, 70, {}))
    slow = scale.summary(step(750.0, 40, 70, {}))
    assert scale.verdict(scale.ratios(base, close)) == {
        "rps": True,
        "read_p99": True,
        "write_p99": True,
    }
    assert scale.verdict(scale.ratios(base, slow)) == {
        "rps": False,
        "read_p99": False,
        "write_p99": True,
    }


def test_p99s_at_the_fixed_load_are_the_ones_compared_when_both_sizes_have_them() -> None:
    def fixed(read_p99: float, write_p99: float) -> dict[str, Any]:
        return {**step(600.0, read_p99, write_p99, {}), "offered_rps": 600.0}

    # Saturated, the larger size's reads wait 40 % longer; at the same load, 10 %.
    base = scale.summary(step(1000.0, 30, 60, {}), fixed(20, 40))
    big = scale.summary(step(850.0, 42, 66, {}), fixed(22, 44))
    got = scale.ratios(base, big)
    assert round(got["saturated_read_p99"], 3) == 1.4
    assert round(got["read_p99"], 3) == 1.1
    assert round(got["write_p99"], 3) == 1.1
    assert scale.verdict(got) == {"rps": True, "read_p99": True, "write_p99": True}
    # Without the fixed step on one side, the closed loop's p99s decide.
    assert scale.ratios(base, scale.summary(step(850.0, 42, 66, {})))["read_p99"] == 1.4


def test_the_process_table_keeps_the_largest_and_sums_the_rest() -> None:
    cpu = {f"p{i}": float(i) for i in range(1, 10)}
    rounds = [
        {
            "base": scale.summary(step(100.0, 1, 1, cpu)),
            "big": scale.summary(step(100.0, 1, 1, {**cpu, "p1": 1.5})),
        }
    ]
    table = scale.process_table(rounds)
    assert [row[0] for row in table] == ["p9", "p8", "p7", "p6", "p5", "p4", "p3", "other"]
    # p1 and p2 are the rest: 0.1 + 0.2 at the base, 0.15 + 0.2 at the larger size.
    assert abs(table[-1][1] - 0.3) < 1e-9
    assert abs(table[-1][2] - 0.35) < 1e-9


def test_the_report_names_each_round_and_the_verdict() -> None:
    base = scale.summary(step(1000.0, 30, 60, {"postgres": 20.0}))
    big = scale.summary(step(700.0, 45, 65, {"postgres": 28.0}))
    ratios = scale.ratios(base, big)
    rep = {
        "started": "2026-12-01T20:00:00Z",
        "command": "python -m bench.scale",
        "args": {
            "users": 1000,
            "projects": 100,
            "factor": 10,
            "load": 16,
            "steps": 2,
            "step_seconds": 60,
            "fixed_rate": 0,
        },
        "rounds": [
            {
                "order": "base then big",
                "base": base,
                "big": big,
                "ratios": ratios,
                "base_file": "mixed-a",
                "big_file": "mixed-b",
            }
        ],
        "median": ratios,
        "met": scale.verdict(ratios),
        "processes": scale.process_table([{"base": base, "big": big}]),
    }
    text = scale.markdown(rep)
    assert "| 1 | base then big | 1,000 | 700 | 0.700 | 30 / 45 | — | 60 / 65 | — |" in text
    assert "throughput 0.700 (at least 0.80: not met); in the closed loop, read p99 1.500" in text
    assert "| postgres | 0.200 | 0.400 | +0.200 |" in text
