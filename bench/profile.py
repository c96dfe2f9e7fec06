"""Sampling profiles of the stack's actor processes with py-spy, during a benchmark.

`Profiler.start` attaches `py-spy record` (collapsed stacks; `--gil`: only the
thread holding the GIL is sampled, so time a thread spends waiting is not counted)
to every Ray actor process of the run (API replicas, project hosts, the outbox
relay, search shards); `stop` ends the recordings and `summarise` names where the
samples went: the functions most often on top of the stack (self time) and most
often anywhere in it (inclusive), per process kind. The collapsed stacks stay
next to the results, ready for any flame graph tool.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil


def descendant_actors() -> dict[int, str]:
    """The Ray actor processes this process started (its own stack), not other runs'."""
    return actor_processes({p.pid for p in psutil.Process().children(recursive=True)})


def actor_processes(marker_pids: set[int] | None = None) -> dict[int, str]:
    """pid → kind (`ServeReplica`, `ProjectHost`, …) of the running Ray actor processes."""
    found: dict[int, str] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if not cmd or not cmd[0].startswith("ray::"):
            continue
        if marker_pids is not None and proc.info["pid"] not in marker_pids:
            continue
        name = cmd[0].removeprefix("ray::").split()[0]
        kind = name.split(":")[0].split(".")[0]
        if kind == "ServeReplica" and name.count(":") == 2:
            kind += "-" + name.rsplit(":", 1)[1]  # the deployment: api, realtime
        if kind and kind != "IDLE":
            found[proc.info["pid"]] = kind
    return found


class Profiler:
    def __init__(self, out_dir: Path, rate_hz: int = 67) -> None:
        self.out_dir = out_dir
        self.rate_hz = rate_hz
        self.recordings: list[tuple[str, Path, subprocess.Popen[bytes]]] = []

    @staticmethod
    def available() -> str | None:
        """py-spy next to this interpreter (a virtualenv's bin), else on PATH."""
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def start(self, processes: dict[int, str]) -> None:
        exe = self.available()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for pid, kind in sorted(processes.items()):
            path = self.out_dir / f"{kind}-{pid}.collapsed.txt"
            proc = subprocess.Popen(
                [
                    *(exe, "record", "--pid", str(pid), "--format", "raw", "--gil"),
                    *("--rate", str(self.rate_hz), "--nonblocking", "--output", str(path)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.recordings.append((kind, path, proc))

    def stop(self) -> list[tuple[str, Path]]:
        """End the recordings (py-spy writes its file on SIGINT); the files written."""
        for _, _, proc in self.recordings:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        written = []
        for kind, path, proc in self.recordings:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if path.exists():
                written.append((kind, path))
        self.recordings.clear()
        return written

    def keep(self, dest: Path) -> dict[str, Any]:
        """Stop, copy the collapsed stacks into `dest`, and summarise them."""
        dest.mkdir(parents=True, exist_ok=True)
        files = [(kind, Path(shutil.copy(path, dest))) for kind, path in self.stop()]
        print(f"  profiles of {len(files)} processes in {dest}", file=sys.stderr, flush=True)
        return summarise(files)


def summarise(files: list[tuple[str, Path]], top: int = 12) -> dict[str, Any]:
    """Per process kind: samples, and the top frames by self and inclusive samples."""
    self_time: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for kind, path in files:
        s, inc = self_time.setdefault(kind, Counter()), inclusive.setdefault(kind, Counter())
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            totals[kind] += count
            s[frames[-1]] += count
            for frame in set(frames):
                inc[frame] += count
    out: dict[str, Any] = {}
    for kind, total in totals.most_common():
        out[kind] = {
            "samples": total,
            "self": [(f, round(100 * n / total, 1)) for f, n in self_time[kind].most_common(top)],
            "inclusive": [
                (f, round(100 * n / total, 1)) for f, n in inclusive[kind].most_common(top * 3)
            ],
        }
    return out
