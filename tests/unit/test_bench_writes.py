"""The durable-write benchmark's bookkeeping (`bench/writes.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.writes import commit_means, read_acked, summary_lines, table_rows


def test_acknowledged_versions_are_read_from_the_wrk_file(tmp_path: Path) -> None:
    path = tmp_path / "acked.txt"
    path.write_text("a-1 3\nb-2 17\n")
    assert read_acked(path) == {"a-1": 3, "b-2": 17}
    assert read_acked(tmp_path / "missing.txt") == {}


def test_commit_means_are_taken_between_two_reads() -> None:
    before = {"taskhive_host_commit_projects_sum": 10.0, "taskhive_host_commit_projects_count": 5.0}
    after = {"taskhive_host_commit_projects_sum": 70.0, "taskhive_host_commit_projects_count": 10.0}
    assert commit_means(before, after) == {
        "commands_per_grain_batch": 0.0,
        "projects_per_host_transaction": 12.0,
    }


def _row(target: str, shape: str, per_s: float) -> dict[str, Any]:
    return {
        "target": target,
        "shape": shape,
        "connections": 64,
        "acked_per_s": per_s,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "errors": 0,
        "cpu_ms_per_write": 1.5,
        "foreign_pct": 0.0,
        "verification": {"every_acknowledged_write_committed": True},
    }


def test_the_table_divides_taskhive_by_the_monolith_at_the_same_step() -> None:
    rows = [_row("taskhive", "spread", 900.0), _row("monolith", "spread", 600.0)]
    assert table_rows(rows)[0][-1] == "1.50"
    assert table_rows(rows)[1][-1] == "—"
    (line,) = summary_lines(rows)
    assert "best Taskhive 900/s (target 1,500/s: not met)" in line


def test_a_step_over_the_p99_limit_or_with_errors_is_not_a_best_rate() -> None:
    slow = _row("taskhive", "spread", 1_600.0) | {"p99_ms": 650.0}
    failing = _row("monolith", "spread", 1_400.0) | {"errors": 3}
    rows = [_row("taskhive", "spread", 1_200.0), slow, _row("monolith", "spread", 1_000.0), failing]
    (line,) = summary_lines(rows)
    assert "best Taskhive 1,200/s (target 1,500/s: not met)" in line
    assert "best monolith 1,000/s, Taskhive ÷ monolith 1.20" in line
    assert "taskhive 1,600/s at p99 650 ms" in line and "monolith 1,400/s" in line
