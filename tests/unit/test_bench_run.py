"""bench.run's rounds: ratios taken within a round, and the median of rounds."""

from __future__ import annotations

from typing import Any

from bench.report import markdown
from bench.run import median_rounds, result_rows
from bench.wrk import WrkResult


def _wrk(rps: float) -> WrkResult:
    return WrkResult(
        requests=int(rps * 10),
        duration_s=10.0,
        rps=rps,
        p50_ms=1.0,
        p75_ms=1.5,
        p90_ms=2.0,
        p99_ms=5.0,
        p999_ms=9.0,
        mean_ms=1.2,
        max_ms=12.0,
        non2xx=0,
        socket_errors={},
        statuses={"200": int(rps * 10)},
        first_error="",
        text_rps=rps,
        text_percentiles_ms={},
        percentiles_agree=True,
        command=["wrk"],
        output="",
    )


Run = tuple[int, str, str, WrkResult, dict[str, Any]]


def _runs(rounds: list[tuple[float, float, float, float]]) -> list[Run]:
    """Per round: GET task, board, and their references, in that order."""
    out: list[Run] = []
    for k, (get, board, ref_get, ref_board) in enumerate(rounds, start=1):
        out += [
            (k, "get_task", "GET", _wrk(get), {}),
            (k, "board", "board", _wrk(board), {}),
            (k, "reference_get", "ref GET", _wrk(ref_get), {}),
            (k, "reference_board", "ref board", _wrk(ref_board), {}),
        ]
    return out


def test_one_round_keeps_the_scenario_names_and_compares_with_its_reference() -> None:
    rows = result_rows(_runs([(1000, 200, 4000, 1000)]))
    by_name = {r["scenario"]: r for r in rows}
    assert set(by_name) == {"get_task", "board", "reference_get", "reference_board"}
    assert by_name["get_task"]["ratio_to_reference"] == 0.25
    assert by_name["board"]["ratio_to_reference"] == 0.2  # against the reference's board


def test_each_ratio_is_taken_within_its_round() -> None:
    # Round 2 is a slow spell for everything: its ratio stays what it was.
    rows = result_rows(_runs([(1000, 200, 4000, 1000), (500, 100, 2000, 500)]))
    get = [r for r in rows if r["scenario"].startswith("get_task")]
    assert [r["scenario"] for r in get] == ["get_task #1", "get_task #2"]
    assert [r["ratio_to_reference"] for r in get] == [0.25, 0.25]


def test_median_of_rounds_takes_the_median_round_and_the_median_ratio() -> None:
    rows = result_rows(
        _runs([(1000, 200, 4000, 1000), (600, 100, 2000, 500), (900, 150, 1800, 600)])
    )
    summary = {r["scenario"]: r for r in median_rounds(rows)}
    get = summary["get_task"]
    assert get["requests_per_s"] == 900  # of 600, 900, 1000
    assert get["rounds_requests_per_s"] == [1000, 600, 900]
    assert get["rounds_ratio_to_reference"] == [0.25, 0.3, 0.5]
    assert get["ratio_to_reference"] == 0.3
    assert summary["board"]["ratio_to_reference"] == 0.2


def test_the_markdown_report_shows_the_median_table() -> None:
    rows = result_rows(_runs([(1000, 200, 4000, 1000), (600, 100, 2000, 500)]))
    report = {
        "name": "foundation",
        "timestamp": "2026-11-30T00:00:00+00:00",
        "machine": {
            "nproc": 2,
            "cpu_model": "x",
            "memory_gib": 1,
            "python": "3.11",
            "wrk": "wrk",
            "platform": "linux",
        },
        "settings": {
            "projects": 1,
            "tasks_per_project": 1,
            "threads": 1,
            "connections": 1,
            "duration_s": 1,
            "timeout_s": 1,
            "stack": "s",
            "rounds": 2,
        },
        "results": rows,
        "median_of_rounds": median_rounds(rows),
    }
    text = markdown(report)
    assert "Median of 2 rounds" in text
    assert "| get_task #2 |" in text and "| get_task |" in text
