"""CPU accounting over a scenario: which of our processes used the CPUs, and how much others did.

"Ours" is this process and all its descendants (Ray and its workers, HAProxy,
the reference app), the processes whose command line names the run's work
directory and their descendants (embedded PostgreSQL and Redis, which detach),
including children they reaped meanwhile (backends of closed database
connections), and wrk (counted from the driver's reaped-children usage, since it has exited by
the second snapshot). Everything else that ran (e.g. someone's test suite on the
same machine) is "foreign": the whole machine's busy time minus ours. Figures
are percent of one CPU.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import psutil


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    busy_s: float
    ours: dict[int, tuple[str, float]]
    reaped_children_s: float


def _label(proc: psutil.Process) -> str:
    try:
        cmd = proc.cmdline()
        name = proc.name()
    except psutil.Error:
        return "?"
    if proc.pid == os.getpid():
        return "bench driver"
    if cmd and cmd[0].startswith("ray::"):
        return str(cmd[0]).split()[0].split(".")[0]
    if "bench.reference_app" in cmd:
        return "reference app"
    if name.startswith("python") or (cmd and PurePath(cmd[0]).name.startswith("python")):
        script = next((a for a in cmd[1:] if a.endswith(".py")), None)
        return f"python {PurePath(script).name}" if script else "python"
    return str(name)  # the executable: postgres backends rewrite their command line


def _busy_s() -> float:
    t = psutil.cpu_times()
    return float(sum(t)) - float(t.idle) - float(getattr(t, "iowait", 0.0))


def _roots(marker: str | None) -> list[psutil.Process]:
    roots = [psutil.Process()]
    if marker:
        for proc in psutil.process_iter():
            try:
                if proc.pid != roots[0].pid and any(marker in a for a in proc.cmdline()):
                    roots.append(proc)
            except psutil.Error:
                continue
    return roots


def snapshot(marker: str | None = None) -> Snapshot:
    """CPU times now; `marker` (a path) also claims the processes whose command line has it."""
    ours: dict[int, tuple[str, float]] = {}
    for root in _roots(marker):
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                used = times.user + times.system
                if proc.pid != os.getpid():  # the driver's reaped children are wrk: see below
                    # Children it waited for, e.g. PostgreSQL backends of closed connections.
                    used += times.children_user + times.children_system
                ours[proc.pid] = (_label(proc), used)
            except psutil.Error:
                continue
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(
        at=time.monotonic(),
        busy_s=_busy_s(),
        ours=ours,
        reaped_children_s=reaped.ru_utime + reaped.ru_stime,
    )


def usage(before: Snapshot, after: Snapshot, reaped_label: str = "wrk") -> dict[str, Any]:
    """CPU use between two snapshots, in percent of one CPU (100 = one core busy).

    Children the driver waited for in between (wrk) count as `reaped_label`.
    """
    wall = max(after.at - before.at, 1e-9)
    reaped = max(after.reaped_children_s - before.reaped_children_s, 0.0)
    by_label: dict[str, float] = {reaped_label: reaped}
    ours_s = reaped
    for pid, (label, cpu) in after.ours.items():
        used = cpu - before.ours.get(pid, (label, 0.0))[1]
        ours_s += used
        by_label[label] = by_label.get(label, 0.0) + used
    busy = after.busy_s - before.busy_s
    foreign = max(busy - ours_s, 0.0)
    top = sorted(by_label.items(), key=lambda kv: -kv[1])
    return {
        "cpus": psutil.cpu_count(),
        "machine_busy_pct": round(100 * busy / wall, 1),
        "ours_pct": round(100 * ours_s / wall, 1),
        "foreign_pct": round(100 * foreign / wall, 1),
        "ours_by_process_pct": {k: round(100 * v / wall, 1) for k, v in top if v / wall >= 0.005},
    }


def summary(cpu: dict[str, Any], limit: int = 6) -> str:
    """`ray::ServeReplica 88%, wrk 35%, …; foreign 3%` (percent of one CPU)."""
    parts = [f"{k} {v:.0f}%" for k, v in list(cpu["ours_by_process_pct"].items())[:limit]]
    return ", ".join(parts) + f"; foreign {cpu['foreign_pct']:.0f}%"


def wait_quiet(
    marker: str | None, *, max_wait_s: float, limit_pct: float, sample_s: float = 2.0
) -> float:
    """Wait (at most `max_wait_s`) until other processes use at most `limit_pct` of a CPU.

    Returns the foreign CPU % of the last sample.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before = snapshot(marker)
        time.sleep(sample_s)
        foreign = float(usage(before, snapshot(marker))["foreign_pct"])
        if foreign <= limit_pct or time.monotonic() + sample_s > deadline:
            return foreign
