"""Results: machine info, the console table, and the JSON and Markdown files."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench import cpu

COLUMNS = ("scenario", "requests/s", "p50 ms", "p99 ms", "errors", "vs reference")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(wrk_version: str) -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "wrk": wrk_version,
        "packages": {p: version(p) for p in ("ray", "fastapi", "uvicorn", "asyncpg", "sqlalchemy")},
    }


def rows(results: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in results:
        ratio = r.get("ratio_to_reference")
        out.append(
            (
                str(r["scenario"]),
                f"{r['requests_per_s']:,.0f}",
                f"{r['latency_ms']['p50']:.2f}",
                f"{r['latency_ms']['p99']:.2f}",
                f"{r['errors']:,}",
                "n/a" if ratio is None else f"{ratio:.3f}",
            )
        )
    return out


def console_table(results: list[dict[str, Any]]) -> str:
    body = rows(results)
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(COLUMNS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(
        [line(COLUMNS), line(tuple("-" * w for w in widths)), *(line(r) for r in body)]
    )


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"# Benchmark `{report['name']}`, {report['timestamp']}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, {m['wrk']}, {m['platform']}. wrk and the server share the CPUs.",
        "",
        f"Data: {s['projects']} projects x {s['tasks_per_project']} tasks "
        f"({s['projects'] * s['tasks_per_project']:,} tasks). "
        f"wrk: {s['threads']} threads, {s['connections']} connections, {s['duration_s']} s per "
        f"scenario, timeout {s['timeout_s']} s. Stack: {s['stack']}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows(report["results"])]
    if report.get("median_of_rounds"):
        lines += [
            "",
            f"Median of {s['rounds']} rounds (each scenario's median round; its ratio is the "
            "median of the ratios taken within each round):",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(r) + " |" for r in rows(report["median_of_rounds"])]
    lines += ["", "Scenarios:", ""]
    for r in report["results"]:
        detail = f"- `{r['scenario']}`: {r['description']}. {r['requests']:,} requests, status codes {r['statuses']}"
        if r["errors"]:
            detail += f"; **{r['errors']:,} errors** (non-2xx {r['non2xx']:,}, socket {r['socket_errors']})"
            if r["first_error"]:
                detail += f"; first error: `{r['first_error'][:200]}`"
        lines.append(detail + ".")
        if r.get("cpu"):
            lines.append(
                f"  CPU (% of one core): {cpu.summary(r['cpu'])}; "
                f"{r['cpu'].get('new_db_sessions', '?')} new PostgreSQL sessions opened."
            )
    v = report.get("verification") or {}
    if v:
        lines += ["", "Write verification (after the PUT run):", ""]
        lines += [f"- {k}: {val}" for k, val in v.items()]
    if report.get("warnings"):
        lines += ["", "Warnings:", ""]
        lines += [f"- {w}" for w in report["warnings"]]
    lines += [
        "",
        "Errors = non-2xx responses + socket errors. Percentiles come from wrk's "
        "histogram via its Lua `done()` (checked against the `--latency` text).",
        "",
    ]
    return "\n".join(lines)


def write(report: dict[str, Any], directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    md_path = directory / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def save(directory: Path, name: str, data: Any, text: str) -> Path:
    """A benchmark's results as `<name>-<UTC stamp>.json` (data) and `.md` (text)
    in `directory`; returns the `.md` path."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    (directory / f"{stem}.json").write_text(json.dumps(data, indent=2, default=str))
    md = directory / f"{stem}.md"
    md.write_text(text + "\n")
    return md
