"""One stepped-load measurement: locust at increasing user counts against one target.

A step runs locust headless (`bench/locustfile.py`, closed loop: no think time)
with N users for a fixed time, and measures from the latencies the locustfile
dumps (every request's, so percentiles are exact, per operation and per class)
and from CPU accounting (`bench/cpu.py`). A step is *sustainable* when the p99 of
every read stays under 200 ms, of every write under 500 ms (the product's targets,
taken per class over all its operations), and fewer than 1 % of requests fail.
The target's maximum sustainable throughput is the highest throughput of its
sustainable steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu

BENCH_DIR = Path(__file__).resolve().parent
LOCUSTFILE = BENCH_DIR / "locustfile.py"
#: p99 limits per operation class, in ms (the product's targets).
LIMITS_MS = {"read": 200.0, "write": 500.0}
MAX_ERROR_RATE = 0.01


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-pct * len(sorted_values) // 100)))  # ceil(pct/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def op_class(name: str) -> str:
    return name.partition(":")[0]


def summarise(dump: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Per operation and per class: count, req/s, p50/p99, failures."""
    latencies: dict[str, list[float]] = dump["latencies_ms"]
    failures: dict[str, int] = dump["failures"]
    names = sorted(set(latencies) | set(failures))

    def stats(values: list[float], failed: int) -> dict[str, Any]:
        values = sorted(values)
        total = len(values) + failed
        return {
            "requests": total,
            "rps": round(total / seconds, 1),
            "p50_ms": round(percentile(values, 50), 1),
            "p99_ms": round(percentile(values, 99), 1),
            "failures": failed,
            "error_rate": round(failed / total, 4) if total else 0.0,
        }

    ops = {n: stats(latencies.get(n, []), failures.get(n, 0)) for n in names}
    classes: dict[str, dict[str, Any]] = {}
    for cls in sorted({op_class(n) for n in names}):
        members = [n for n in names if op_class(n) == cls]
        values = [v for n in members for v in latencies.get(n, [])]
        classes[cls] = stats(values, sum(failures.get(n, 0) for n in members))
    http = [c for k, c in classes.items() if k in LIMITS_MS]
    total = sum(c["requests"] for c in http)
    failed = sum(c["failures"] for c in http)
    return {
        "operations": ops,
        "classes": classes,
        "requests": total,
        "rps": round(total / seconds, 1),
        "failures": failed,
        "error_rate": round(failed / total, 4) if total else 0.0,
        "first_failure": dump.get("first_failure", {}),
    }


def sustainable(summary: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the step kept the p99 limits, and which it broke."""
    broken = []
    for cls, limit in LIMITS_MS.items():
        c = summary["classes"].get(cls)
        if c and c["p99_ms"] >= limit:
            broken.append(f"{cls} p99 {c['p99_ms']:.0f} ms ≥ {limit:.0f}")
    if summary["requests"] == 0:
        broken.append("no requests")
    elif summary["error_rate"] >= MAX_ERROR_RATE:
        broken.append(f"errors {100 * summary['error_rate']:.1f} % ≥ 1 %")
    return not broken, broken


@dataclass(slots=True)
class Acknowledged:
    """Acknowledged writes: the newest version returned per task, comment ids."""

    tasks: dict[str, int] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    def add(self, dumped: dict[str, Any]) -> None:
        for task_id, version in dumped.get("tasks", {}).items():
            self.tasks[task_id] = max(self.tasks.get(task_id, 0), int(version))
        self.comments += dumped.get("comments", [])


@dataclass(frozen=True, slots=True)
class Target:
    """What to load, and which processes' CPU counts as the target's."""

    name: str
    url: str
    counts: Callable[[int, str], bool]  # (pid, label) → the target's process?
    user_classes: tuple[str, ...] = ("TaskhiveUser",)


def run_locust(
    target: Target, users: int, seconds: int, data: Path, work: Path, rate: float | None = None
) -> tuple[dict[str, Any], float]:
    """One locust run; the latency dump and the measured wall time. `rate`: the
    users together offer this many requests a second (each its share), instead of
    sending the next request as soon as the last one is answered."""
    out = work / f"{target.name}-{users}.latencies.json"
    env = {
        **os.environ,
        "BENCH_DATA": str(data),
        "BENCH_LATENCY_OUT": str(out),
        "BENCH_THINK_S": "0,0",
    }
    if rate is not None:
        env["BENCH_RATE_PER_USER"] = str(rate / users)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--skip-log-setup",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--stop-timeout",
        "5",
        "--host",
        target.url,
        "--csv",
        str(work / f"{target.name}-{users}"),
        *target.user_classes,
    ]
    started = time.monotonic()
    proc = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=seconds + 120, env=env
    )
    wall = time.monotonic() - started
    if not out.exists():
        raise RuntimeError(
            f"locust wrote no latencies (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    dump: dict[str, Any] = json.loads(out.read_text())
    return dump, wall


def target_cpu_pct(before: cpu.Snapshot, after: cpu.Snapshot, target: Target) -> float:
    """The target's processes' CPU between two snapshots, % of one CPU."""
    used = 0.0
    for pid, (label, seconds) in after.ours.items():
        if target.counts(pid, label):
            used += seconds - before.ours.get(pid, (label, 0.0))[1]
    return 100 * used / max(after.at - before.at, 1e-9)


def measure_step(
    target: Target,
    users: int,
    seconds: int,
    data: Path,
    marker: str,
    log: Callable[[str], None],
    acknowledged: Acknowledged,
    *,
    rate: float | None = None,
) -> dict[str, Any]:
    """Run one step and describe it: throughput, latencies, CPU, whether sustainable.
    The writes it saw acknowledged are added to `acknowledged`. `rate`: a fixed
    offered load in requests a second (`run_locust`), else a closed loop."""
    with tempfile.TemporaryDirectory(prefix="bench-step-") as tmp:
        before = cpu.snapshot(marker)
        dump, wall = run_locust(target, users, seconds, data, Path(tmp), rate)
        after = cpu.snapshot(marker)
    used = cpu.usage(before, after, reaped_label="locust")
    acknowledged.add(dump.get("acknowledged", {}))
    summary = summarise(dump, float(seconds))
    server_pct = target_cpu_pct(before, after, target)
    ok, broken = sustainable(summary)
    # CPU per request: the target's CPU time over the run's wall time / its requests.
    cpu_ms = 1000 * (server_pct / 100) * (after.at - before.at) / max(summary["requests"], 1)
    step = {
        "users": users,
        "offered_rps": rate,
        "seconds": seconds,
        "wall_s": round(wall, 1),
        **summary,
        "sustainable": ok,
        "broken": broken,
        "cpu": used,
        "target_cpu_pct": round(server_pct, 1),
        "cpu_ms_per_request": round(cpu_ms, 2),
    }
    classes = summary["classes"]
    log(
        f"  {target.name} {users:>4} users: {summary['rps']:8,.0f} req/s"
        + (f" (offered {rate:,.0f})" if rate is not None else "")
        + ", "
        f"read p99 {classes.get('read', {}).get('p99_ms', 0):6.0f} ms, "
        f"write p99 {classes.get('write', {}).get('p99_ms', 0):6.0f} ms, "
        f"errors {100 * summary['error_rate']:.2f} %, {cpu_ms:.2f} CPU-ms/req, "
        f"foreign CPU {used['foreign_pct']:.0f}% "
        f"{'ok' if ok else 'NOT sustainable: ' + '; '.join(broken)}"
    )
    for operation, failure in sorted(step["first_failure"].items()):
        log(f"    first failure of {operation}: {failure}")
    return step


def best(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sustainable step with the highest throughput (None when none was)."""
    good = [s for s in steps if s["sustainable"]]
    return max(good, key=lambda s: s["rps"]) if good else None


def median_round(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The round (its steps) whose best sustainable throughput is the median of the
    rounds' (the lower middle one of an even count; a round with no sustainable
    step counts as 0)."""
    ranked = sorted(rounds, key=best_rps)
    return ranked[(len(ranked) - 1) // 2]


def best_rps(steps: list[dict[str, Any]]) -> float:
    """The best sustainable throughput of a run of steps, 0 when none was sustainable."""
    top = best(steps)
    return float(top["rps"]) if top is not None else 0.0


def stepped(
    target: Target,
    user_steps: list[int],
    seconds: int,
    data: Path,
    marker: str,
    log: Callable[[str], None],
    *,
    wait_quiet_s: float = 0.0,
) -> tuple[list[dict[str, Any]], Acknowledged]:
    """Steps in order until two in a row are not sustainable (more users will not help);
    also every write acknowledged in them."""
    steps: list[dict[str, Any]] = []
    acknowledged = Acknowledged()
    misses = 0
    for users in user_steps:
        if wait_quiet_s > 0:
            cpu.wait_quiet(marker, max_wait_s=wait_quiet_s, limit_pct=10.0)
        step = measure_step(target, users, seconds, data, marker, log, acknowledged)
        steps.append(step)
        misses = 0 if step["sustainable"] else misses + 1
        if misses >= 2:
            break
    return steps, acknowledged


def spike(
    url: str, data: Path, *, base_users: int, scale: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """The sprint-planning spike (`bench/locust_spike.py`) with think time, websocket
    board watchers included: per-operation latencies over the whole run."""
    with tempfile.TemporaryDirectory(prefix="bench-spike-") as tmp:
        out = Path(tmp) / "spike.latencies.json"
        env = {
            **os.environ,
            "BENCH_DATA": str(data),
            "BENCH_LATENCY_OUT": str(out),
            "BENCH_THINK_S": "0.5,1.5",
            "SPIKE_BASE": str(base_users),
            "SPIKE_SCALE": str(scale),
        }
        seconds = 210 * scale
        command = [
            *(sys.executable, "-m", "locust", "-f", str(BENCH_DIR / "locust_spike.py")),
            *("--headless", "--only-summary", "--skip-log-setup", "--host", url),
            *("--stop-timeout", "5"),
        ]
        started = time.monotonic()
        proc = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 180, env=env
        )
        wall = time.monotonic() - started
        if not out.exists():
            raise RuntimeError(f"the spike wrote no latencies:\n{proc.stderr[-3000:]}")
        dump = json.loads(out.read_text())
    summary = summarise(dump, wall) | {"acknowledged": dump.get("acknowledged", {})}
    ok, broken = sustainable(summary)
    log(
        f"  spike ({base_users} → {5 * base_users} users, {wall:.0f} s): "
        f"{summary['rps']:,.0f} req/s, {'ok' if ok else 'limits broken: ' + '; '.join(broken)}"
    )
    return {
        "base_users": base_users,
        "scale": scale,
        "wall_s": round(wall, 1),
        **summary,
        "within_limits": ok,
        "broken": broken,
    }
