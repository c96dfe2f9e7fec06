"""Cost growth with data: the mixed workload on the base data set and on a
multiple of it, in one run, the sizes alternating.

Each measurement is a `bench.mixed` run of Taskhive alone (its own stack, seeded
from scratch) at a fixed closed-loop load: by default two 60 s steps of 16
locust users, of which the last gives the throughput compared (the first also warms
what a minute of traffic touches), then one step at a fixed offered load below
both sizes' saturation, which gives the p99s compared: at saturation a closed
loop's latency is its users over the throughput, so a lower throughput shows up
again as a longer latency; at the same offered load the p99 says what more data
costs a request. Rounds alternate which size goes first, so a slow spell of the
machine does not always land on the same one. Prints, and writes to
`bench/results/scale-<UTC>.{json,md,png}`: each size's throughput and p99s,
their ratios per round and the median ratios, and the CPU per request of every
process at both sizes (the chart), which says where the extra cost of more data
goes.

    python -m bench.scale                  # 1,000 and 10,000 users' data, one round
    python -m bench.scale --rounds 2       # both orders
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import save

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
#: The target: throughput and p99 at the larger size within this fraction of the base's.
WITHIN = 0.20
#: Processes shown by name; the rest are summed as "other".
SHOWN = 7


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--users", type=int, default=1000, help="seeded users at the base size")
    p.add_argument("--projects", type=int, default=100, help="projects at the base size")
    p.add_argument("--factor", type=int, default=10, help="the larger size, times the base")
    p.add_argument("--load", type=int, default=16, help="locust users in each step")
    p.add_argument("--steps", type=int, default=2, help="steps per measurement; the last counts")
    p.add_argument("--step-seconds", type=int, default=60)
    p.add_argument(
        "--fixed-rate",
        type=float,
        default=600.0,
        help="offered requests a second of the step whose p99s are compared (0: none; "
        "then the closed loop's p99s are)",
    )
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    a = p.parse_args(argv)
    if min(a.rounds, a.steps, a.factor, a.load) < 1:
        p.error("--rounds, --steps, --factor and --load must be at least 1")
    return a


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, users: int, projects: int) -> tuple[Path, dict[str, Any]]:
    """One `bench.mixed` run; its result file and its summary."""
    before = set(args.out.glob("mixed-*.json"))
    steps = ",".join([str(args.load)] * args.steps)
    cmd = [
        sys.executable,
        "-m",
        "bench.mixed",
        "--targets",
        "taskhive",
        "--users",
        str(users),
        "--projects",
        str(projects),
        "--steps",
        steps,
        "--step-seconds",
        str(args.step_seconds),
        "--out",
        str(args.out),
        *(["--fixed-rate", str(args.fixed_rate)] if args.fixed_rate else []),
    ]
    log(" ".join(cmd[1:]))
    done = subprocess.run(cmd, cwd=REPO, env=os.environ.copy(), check=False)
    written = sorted(set(args.out.glob("mixed-*.json")) - before)
    if done.returncode != 0 or not written:
        raise SystemExit(f"bench.mixed failed (exit {done.returncode})")
    data = json.loads(written[-1].read_text())
    fixed = data.get("fixed_rate", {}).get("taskhive", [])
    return written[-1], summary(data["steps"]["taskhive"][-1], fixed[-1] if fixed else None)


def summary(step: dict[str, Any], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The closed loop's last step; with `fixed`, the fixed-rate step's p99s as well."""
    rps = float(step["rps"])
    by_process = step["cpu"]["ours_by_process_pct"]
    return {
        "rps": rps,
        "read_p99_ms": step["classes"]["read"]["p99_ms"],
        "write_p99_ms": step["classes"]["write"]["p99_ms"],
        "errors": step["failures"],
        # percent of a core ÷ requests per second = ms of CPU per request (times 10)
        "cpu_ms_per_request": {
            _short(name): round(pct * 10 / rps, 3) for name, pct in by_process.items() if rps
        },
        "fixed": None
        if fixed is None
        else {
            "offered_rps": fixed["offered_rps"],
            "rps": fixed["rps"],
            "read_p99_ms": fixed["classes"]["read"]["p99_ms"],
            "write_p99_ms": fixed["classes"]["write"]["p99_ms"],
        },
    }


def _short(process: str) -> str:
    name = process.removeprefix("ray::")
    return "API replica" if name.startswith("ServeReplica:taskhive:api") else name


def ratios(base: dict[str, Any], big: dict[str, Any]) -> dict[str, float]:
    """Throughput: the larger size's share of the base's. p99s: how much longer, at
    the fixed load when both were measured there, else at saturation (both kept)."""
    out = {
        "rps": big["rps"] / base["rps"],
        "saturated_read_p99": big["read_p99_ms"] / base["read_p99_ms"],
        "saturated_write_p99": big["write_p99_ms"] / base["write_p99_ms"],
    }
    fixed_base, fixed_big = base.get("fixed"), big.get("fixed")
    if fixed_base and fixed_big:
        out["read_p99"] = fixed_big["read_p99_ms"] / fixed_base["read_p99_ms"]
        out["write_p99"] = fixed_big["write_p99_ms"] / fixed_base["write_p99_ms"]
    else:
        out["read_p99"] = out["saturated_read_p99"]
        out["write_p99"] = out["saturated_write_p99"]
    return out


def verdict(median: dict[str, float]) -> dict[str, bool]:
    return {
        "rps": median["rps"] >= 1 - WITHIN,
        "read_p99": median["read_p99"] <= 1 + WITHIN,
        "write_p99": median["write_p99"] <= 1 + WITHIN,
    }


def process_table(rounds: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(process, base ms/request, larger ms/request), medians over rounds, largest first."""
    names: set[str] = set()
    for r in rounds:
        names |= set(r["base"]["cpu_ms_per_request"]) | set(r["big"]["cpu_ms_per_request"])

    def med(size: str, name: str) -> float:
        return float(
            statistics.median(r[size]["cpu_ms_per_request"].get(name, 0.0) for r in rounds)
        )

    rows = sorted(
        ((n, med("base", n), med("big", n)) for n in names), key=lambda row: -max(row[1], row[2])
    )
    shown, rest = rows[:SHOWN], rows[SHOWN:]
    if rest:
        shown.append(("other", sum(r[1] for r in rest), sum(r[2] for r in rest)))
    return shown


def _pair(b: dict[str, Any] | None, g: dict[str, Any] | None, key: str) -> str:
    return f"{b[key]:.0f} / {g[key]:.0f}" if b and g else "—"


def markdown(rep: dict[str, Any]) -> str:
    a = rep["args"]
    big = f"{a['factor']}x"
    fixed = f"{a['fixed_rate']:,.0f} req/s" if a.get("fixed_rate") else None
    lines = [
        f"# Cost growth with data, {rep['started']}",
        "",
        f"`{rep['command']}`: the mixed workload (`bench.mixed`, Taskhive alone) at "
        f"{a['users']:,} users / {a['projects']:,} projects / {a['users'] * 100:,} tasks and "
        f"at {big} that; {a['steps']} steps of {a['step_seconds']} s at {a['load']} locust "
        "users each (closed loop), the last one's throughput compared"
        + (f", then one step at a fixed {fixed} whose p99s are compared" if fixed else "")
        + ". Rounds alternate which size goes first. p99s are base / "
        + big
        + ", in ms.",
        "",
        "| round | order | base req/s | "
        + big
        + " req/s | ratio | read p99, closed loop | read p99, fixed load | "
        "write p99, closed loop | write p99, fixed load | files |",
        "|---|---|---:|---:|---:|---|---|---|---|---|",
    ]
    for i, r in enumerate(rep["rounds"], 1):
        b, g, q = r["base"], r["big"], r["ratios"]
        lines.append(
            f"| {i} | {r['order']} | {b['rps']:,.0f} | {g['rps']:,.0f} | {q['rps']:.3f} | "
            f"{_pair(b, g, 'read_p99_ms')} | {_pair(b['fixed'], g['fixed'], 'read_p99_ms')} | "
            f"{_pair(b, g, 'write_p99_ms')} | {_pair(b['fixed'], g['fixed'], 'write_p99_ms')} | "
            f"`{r['base_file']}`, `{r['big_file']}` |"
        )
    m, v = rep["median"], rep["met"]
    yes = {True: "met", False: "not met"}
    where = f"at {fixed}" if fixed else "in the closed loop"
    lines += [
        "",
        f"Median ratios: throughput {m['rps']:.3f} (at least {1 - WITHIN:.2f}: {yes[v['rps']]}); "
        f"{where}, read p99 {m['read_p99']:.3f} and write p99 {m['write_p99']:.3f} "
        f"(at most {1 + WITHIN:.2f}: {yes[v['read_p99']]}, {yes[v['write_p99']]}); "
        f"in the closed loop, read p99 {m['saturated_read_p99']:.3f} and write p99 "
        f"{m['saturated_write_p99']:.3f}.",
        "",
        "CPU per request by process in the closed loop's last step, ms (median over rounds; "
        "the chart is the `.png` of the same name):",
        "",
        f"| process | base | {big} | difference |",
        "|---|---:|---:|---:|",
    ]
    for name, base_ms, big_ms in rep["processes"]:
        lines.append(f"| {name} | {base_ms:.3f} | {big_ms:.3f} | {big_ms - base_ms:+.3f} |")
    total_b = sum(r[1] for r in rep["processes"])
    total_g = sum(r[2] for r in rep["processes"])
    lines.append(f"| all | {total_b:.3f} | {total_g:.3f} | {total_g - total_b:+.3f} |")
    return "\n".join(lines)


def plot(rep: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rep["processes"]
    names = [r[0] for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.4
    ax.bar([i - width / 2 for i in x], [r[1] for r in rows], width, label="base")
    ax.bar(
        [i + width / 2 for i in x], [r[2] for r in rows], width, label=f"{rep['args']['factor']}x"
    )
    ax.set_xticks(list(x), names, rotation=20, ha="right")
    ax.set_ylabel("CPU ms per request")
    m = rep["median"]
    ax.set_title(
        f"Where more data costs: throughput x{m['rps']:.2f}, read p99 x{m['read_p99']:.2f}"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sizes = {
        "base": (args.users, args.projects),
        "big": (args.users * args.factor, args.projects * args.factor),
    }
    rounds: list[dict[str, Any]] = []
    for index in range(args.rounds):
        order = ["base", "big"] if index % 2 == 0 else ["big", "base"]
        result: dict[str, Any] = {"order": " then ".join(order)}
        for size in order:
            path, result[size] = measure(args, *sizes[size])
            result[f"{size}_file"] = path.stem
        result["ratios"] = ratios(result["base"], result["big"])
        log(f"round {index + 1}: {json.dumps(result['ratios'])}")
        rounds.append(result)
    median = {k: statistics.median(r["ratios"][k] for r in rounds) for k in rounds[0]["ratios"]}
    rep = {
        "started": started,
        "command": " ".join(
            ["python -m bench.scale", *(argv if argv is not None else sys.argv[1:])]
        ),
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "rounds": rounds,
        "median": median,
        "met": verdict(median),
        "processes": process_table(rounds),
    }
    text = markdown(rep)
    md = save(args.out, "scale", rep, text)
    plot(rep, md.with_suffix(".png"))
    print(text)
    print(f"\nwritten: {md.relative_to(REPO) if md.is_relative_to(REPO) else md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
