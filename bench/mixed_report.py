"""The mixed benchmark's results: the summary, the console and Markdown tables,
the JSON file and the latency-vs-throughput PNG."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import report, steps
from bench.dataset import Shape

REFERENCES = ("monolith", "ceiling")


def _best_summary(name: str, target_steps: list[dict[str, Any]]) -> dict[str, Any]:
    top = steps.best(target_steps)
    row: dict[str, Any] = {"target": name, "sustainable": top is not None}
    if top is None:
        return row
    classes = top["classes"]
    row |= {
        "users": top["users"],
        "rps": top["rps"],
        "read_p50_ms": classes.get("read", {}).get("p50_ms"),
        "read_p99_ms": classes.get("read", {}).get("p99_ms"),
        "write_p50_ms": classes.get("write", {}).get("p50_ms"),
        "write_p99_ms": classes.get("write", {}).get("p99_ms"),
        "error_rate": top["error_rate"],
        "cpu_ms_per_request": top["cpu_ms_per_request"],
        "target_cpu_pct": top["target_cpu_pct"],
        "operations": top["operations"],
    }
    return row


def build(
    *,
    started: datetime,
    args: dict[str, Any],
    shape: Shape,
    info: dict[str, Any],
    results: dict[str, list[dict[str, Any]]],
    verification: dict[str, Any],
    rounds: dict[str, list[list[dict[str, Any]]]] | None = None,
    warnings: list[str],
    failures: list[str],
    profiles: dict[str, Any],
    spike: dict[str, Any],
    fixed_rate: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    summary = {name: _best_summary(name, s) for name, s in results.items()}
    by_round = {name: [steps.best_rps(r) for r in runs] for name, runs in (rounds or {}).items()}
    ratios = {ref: taskhive_ratio(summary, by_round, ref) for ref in REFERENCES}
    return {
        "name": "mixed",
        "timestamp": started.isoformat(timespec="seconds"),
        "machine": report.machine_info("n/a") | {"load_generator": "locust (same machine)"},
        "settings": {k: v for k, v in args.items() if k != "out"},
        "shape": asdict(shape),
        "limits_p99_ms": steps.LIMITS_MS,
        "info": info,
        "summary": summary,
        "taskhive_ratio_to": ratios,
        "rounds_rps": by_round,
        "steps": results,
        "verification": verification,
        "warnings": warnings,
        "failures": failures,
        "profiles": profiles,
        "spike": spike,
        "fixed_rate": fixed_rate or {},
    }


def taskhive_ratio(
    summary: dict[str, dict[str, Any]], by_round: dict[str, list[float]], ref: str
) -> float | None:
    """Taskhive's sustainable throughput over `ref`'s: with several rounds, the
    median of each round's ratio (a round's two targets ran back to back, under
    the same spell of the machine); with one, the ratio of the two summaries."""
    ours, theirs = by_round.get("taskhive", []), by_round.get(ref, [])
    if len(ours) > 1 and len(ours) == len(theirs):
        each = sorted(a / b for a, b in zip(ours, theirs, strict=True) if a and b)
        return round(statistics.median(each), 3) if each else None
    mine, other = summary.get("taskhive", {}).get("rps"), summary.get(ref, {}).get("rps")
    return round(mine / other, 3) if mine and other else None


def _fmt(value: Any, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def _multi_round(rep: dict[str, Any]) -> bool:
    return any(len(r) > 1 for r in rep.get("rounds_rps", {}).values())


def summary_columns(rep: dict[str, Any]) -> tuple[str, ...]:
    if not _multi_round(rep):
        return SUMMARY_COLUMNS
    return (SUMMARY_COLUMNS[0], "median round req/s", "rounds req/s", *SUMMARY_COLUMNS[2:])


def summary_rows(rep: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    multi = _multi_round(rep)
    for name, s in rep["summary"].items():
        ratio = rep["taskhive_ratio_to"].get(name) if name != "taskhive" else None
        each = rep.get("rounds_rps", {}).get(name, [])
        rows.append(
            (
                name,
                _fmt(s.get("rps")),
                *((", ".join(_fmt(x) for x in each),) if multi else ()),
                _fmt(s.get("users"), "d"),
                f"{_fmt(s.get('read_p50_ms'), '.0f')} / {_fmt(s.get('read_p99_ms'), '.0f')}",
                f"{_fmt(s.get('write_p50_ms'), '.0f')} / {_fmt(s.get('write_p99_ms'), '.0f')}",
                _fmt(None if s.get("error_rate") is None else 100 * s["error_rate"], ".2f"),
                _fmt(s.get("cpu_ms_per_request"), ".2f"),
                "—" if name == "taskhive" else _fmt(ratio, ".2f"),
            )
        )
    return rows


SUMMARY_COLUMNS = (
    "target",
    "max sustainable req/s",
    "users",
    "read p50 / p99 ms",
    "write p50 / p99 ms",
    "errors %",
    "CPU ms/req",
    "Taskhive ÷ target",
)
OP_COLUMNS = ("target", "operation", "req/s", "p50 ms", "p99 ms", "failures")


def op_rows(rep: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, s in rep["summary"].items():
        for op, o in (s.get("operations") or {}).items():
            rows.append(
                (
                    name,
                    op,
                    _fmt(o["rps"], ",.1f"),
                    _fmt(o["p50_ms"], ".1f"),
                    _fmt(o["p99_ms"], ".1f"),
                    str(o["failures"]),
                )
            )
    return rows


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(
        [line(columns), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]
    )


def _markdown_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def console(rep: dict[str, Any]) -> str:
    parts = [
        "Maximum sustainable throughput (p99 reads < 200 ms, writes < 500 ms, errors < 1 %):",
        _table(summary_columns(rep), summary_rows(rep)),
        "",
        "Per operation at each target's best step:",
        _table(OP_COLUMNS, op_rows(rep)),
    ]
    for name, v in rep["verification"].items():
        parts.append(f"{name} writes: {v}")
    return "\n".join(parts)


def step_rows(rep: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, target_steps in rep["steps"].items():
        for s in target_steps:
            c = s["classes"]
            rows.append(
                (
                    name,
                    str(s["users"]),
                    _fmt(s["rps"]),
                    _fmt(c.get("read", {}).get("p99_ms"), ".0f"),
                    _fmt(c.get("write", {}).get("p99_ms"), ".0f"),
                    _fmt(100 * s["error_rate"], ".2f"),
                    _fmt(s["cpu_ms_per_request"], ".2f"),
                    _fmt(s["cpu"]["foreign_pct"], ".0f"),
                    "yes" if s["sustainable"] else "no: " + "; ".join(s["broken"]),
                )
            )
    return rows


STEP_COLUMNS = (
    "target",
    "users",
    "req/s",
    "read p99 ms",
    "write p99 ms",
    "errors %",
    "CPU ms/req",
    "foreign CPU %",
    "sustainable",
)


def markdown(rep: dict[str, Any], png_name: str) -> str:
    m, s, sh, info = rep["machine"], rep["settings"], rep["shape"], rep["info"]
    lines = [
        f"# Benchmark `mixed`, {rep['timestamp']}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}. "
        "locust, the servers and PostgreSQL share the CPUs.",
        "",
        f"Data: {sh['users']:,} users, {sh['projects']} projects, {info.get('tasks', 0):,} tasks "
        f"({sh['tasks_per_user']} per user; tasks over projects Zipf {sh['data_skew']}, traffic "
        f"Zipf {sh['traffic_skew']}; hottest projects hold {info.get('tasks_in_hottest_projects')} tasks). "
        f"Steps: {s['steps']} locust users (closed loop), {s['step_seconds']} s each.",
        "",
        *_markdown_table(summary_columns(rep), summary_rows(rep)),
        "",
        *(
            [
                f"{s['rounds']} rounds, the targets alternating: each target's row, its "
                "operations and its steps below are its median round; Taskhive ÷ target is "
                "the median of the rounds' ratios.",
                "",
            ]
            if _multi_round(rep)
            else []
        ),
        "Per operation at each target's best step:",
        "",
        *_markdown_table(OP_COLUMNS, op_rows(rep)),
        "",
        "Every step:",
        "",
        *_markdown_table(STEP_COLUMNS, step_rows(rep)),
        "",
        f"Curves: `{png_name}`.",
    ]
    if rep["verification"]:
        lines += ["", "Acknowledged writes checked against PostgreSQL afterwards:", ""]
        lines += [f"- {k}: {v}" for k, v in rep["verification"].items()]
    if rep.get("spike"):
        sp = rep["spike"]
        lines += [
            "",
            f"Sprint-planning spike against Taskhive ({sp['base_users']} → {5 * sp['base_users']} "
            f"users with 0.5-1.5 s think time, {sp['wall_s']} s, websocket board watchers "
            f"included): {sp['rps']:,.0f} req/s, within the limits: "
            f"{'yes' if sp['within_limits'] else 'no (' + '; '.join(sp['broken']) + ')'}.",
            "",
            *_markdown_table(
                ("operation", "requests", "p50 ms", "p99 ms", "failures"),
                [
                    (
                        op,
                        f"{o['requests']:,}",
                        f"{o['p50_ms']:.1f}",
                        f"{o['p99_ms']:.1f}",
                        str(o["failures"]),
                    )
                    for op, o in sp["operations"].items()
                ],
            ),
        ]
    if rep.get("fixed_rate"):
        lines += ["", "At a fixed offered load (`--fixed-rate`), every round:", ""]
        lines += _markdown_table(
            ("target", "offered req/s", "served req/s", "read p50 / p99 ms", "write p50 / p99 ms"),
            [
                (
                    name,
                    f"{st['offered_rps']:,.0f}",
                    f"{st['rps']:,.0f}",
                    _p50_p99(st, "read"),
                    _p50_p99(st, "write"),
                )
                for name, runs in rep["fixed_rate"].items()
                for st in runs
            ],
        )
    for kind, p in rep.get("profiles", {}).items():
        lines += [
            "",
            f"py-spy, `{kind}` ({p['samples']:,} samples), most often on top of the stack:",
            "",
        ]
        lines += [f"- {pct:.1f} % `{frame}`" for frame, pct in p["self"][:8]]
    for title, items in (("Warnings", rep["warnings"]), ("Failures", rep["failures"])):
        if items:
            lines += ["", f"{title}:", "", *(f"- {w}" for w in items)]
    lines += [
        "",
        "CPU ms/req: CPU time of the target's processes (Taskhive: Ray, Serve, hosts, "
        "PostgreSQL, Redis; monolith: its workers and PostgreSQL; ceiling: its workers) "
        "over the requests of the step.",
        "",
    ]
    return "\n".join(lines)


def _p50_p99(step: dict[str, Any], kind: str) -> str:
    c = step["classes"].get(kind)
    return f"{c['p50_ms']:.0f} / {c['p99_ms']:.0f}" if c else "—"


def plot(rep: dict[str, Any], path: Path) -> Path:
    """Read and write p99 (and p50) against throughput, one line per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=False)
    for ax, cls in zip(axes, ("read", "write"), strict=True):
        for name, target_steps in rep["steps"].items():
            xs = [s["rps"] for s in target_steps]
            p99 = [s["classes"].get(cls, {}).get("p99_ms", 0) for s in target_steps]
            p50 = [s["classes"].get(cls, {}).get("p50_ms", 0) for s in target_steps]
            (line,) = ax.plot(xs, p99, marker="o", label=f"{name} p99")
            ax.plot(xs, p50, marker=".", linestyle=":", color=line.get_color(), label=f"{name} p50")
        ax.axhline(steps.LIMITS_MS[cls], color="red", linestyle="--", linewidth=1, label="limit")
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("throughput, all requests (req/s)")
        ax.set_ylabel(f"{cls} latency (ms)")
        ax.set_title(f"{cls}s: latency vs throughput")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Taskhive mixed workload, {rep['timestamp']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(rep: dict[str, Any], directory: Path, stem: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    md_path = directory / f"{stem}.md"
    png_path = directory / f"{stem}.png"
    json_path.write_text(json.dumps(rep, indent=2, default=str) + "\n")
    plot(rep, png_path)
    md_path.write_text(markdown(rep, png_path.name))
    return [json_path, md_path, png_path]
