"""What committing the search index costs under a steady write load, at a fixed
50 ms cadence and at the adaptive one (`search.cadence`), as it is and as it was
(commits ten times their duration apart, at most 250 ms).

One `TaskIndex` of N generated tasks (`bench.search.generate`) in a temporary
directory, no Ray: a writer thread updates existing tasks at `--writes` per
second, a reader thread searches a word at `--searches` per second, and a
committer thread commits like the shard actor (wait for a change, wait the
cadence, commit and reload). Reports, per cadence, the process's CPU seconds per
second of load (all threads, Tantivy's merge threads included), commits per
second and their mean duration, and write → searchable p50/p99/max (a write is
searchable when the commit after it returns, since commit reloads the searcher).

    python -m bench.search_commits --tasks 100000 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tantivy import Query

from bench.search import generate, percentile
from search.cadence import Cadence
from search.index import TaskIndex
from search.schema import IndexedTask

CADENCES = {
    "fixed 50 ms": Cadence(floor_s=0.05, factor=0.0, cap_s=0.05),
    "adaptive before (x10, at most 250 ms)": Cadence(factor=10.0, cap_s=0.25),
    "adaptive (x20, at most 500 ms)": Cadence(),
    "fixed 300 ms": Cadence(floor_s=0.3, factor=0.0, cap_s=0.3),
}


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far per thread name (Tantivy names its writer, segment
    updater and merge threads), from /proc; threads that ended are not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = re.sub(r"[0-9]+$", "N", name)
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return found


@dataclass(slots=True)
class Run:
    cpu_s: float = 0.0
    wall_s: float = 0.0
    commits: int = 0
    commit_s: float = 0.0
    fresh_s: list[float] | None = None
    threads: dict[str, float] | None = None


def build(path: Path, tasks: list[IndexedTask]) -> TaskIndex:
    index = TaskIndex(path)
    for item in tasks:
        index.add_new(item)
    index.commit()
    return index


def load(
    index: TaskIndex, tasks: list[IndexedTask], vocab: list[str], cadence: Cadence, args: Any
) -> Run:
    lock = threading.Lock()
    dirty = threading.Event()
    stop = threading.Event()
    written: list[float] = []
    run = Run(fresh_s=[])
    rng = random.Random(11)

    def committer() -> None:
        last, ended = 0.0, time.perf_counter()
        while not stop.is_set():
            if not dirty.wait(0.1):
                continue
            time.sleep(cadence.wait_s(last, time.perf_counter() - ended))
            dirty.clear()
            with lock:
                batch = list(written)
                written.clear()
                started = time.perf_counter()
                index.commit()
                ended = time.perf_counter()
            last = ended - started
            run.commits += 1
            run.commit_s += last
            assert run.fresh_s is not None
            run.fresh_s.extend(ended - at for at in batch)

    def reader() -> None:
        schema = index.schema
        while not stop.is_set():
            word = rng.choice(vocab[:500])
            index.index.searcher().search(Query.term_query(schema, "title", word), 20)
            time.sleep(1 / args.searches)

    threads = [threading.Thread(target=committer), threading.Thread(target=reader)]
    for th in threads:
        th.start()
    cpu, per_thread, started = time.process_time(), thread_cpu(), time.perf_counter()
    i = 0
    while time.perf_counter() - started < args.seconds:
        item = tasks[rng.randrange(len(tasks))]
        task = {**item.task, "title": f"{item.task['title']} {i}", "version": i}
        with lock:
            index.upsert([IndexedTask(task, item.org_id, item.category)])
            written.append(time.perf_counter())
        dirty.set()
        i += 1
        time.sleep(max(0.0, started + i / args.writes - time.perf_counter()))
    stop.set()
    for th in threads:
        th.join(timeout=10)
    run.cpu_s, run.wall_s = time.process_time() - cpu, time.perf_counter() - started
    after = thread_cpu()
    run.threads = {k: v - per_thread.get(k, 0.0) for k, v in after.items()}
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--writes", type=float, default=23.0, help="updates per second")
    parser.add_argument("--searches", type=float, default=10.0, help="searches per second")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each cadence, alternating")
    parser.add_argument(
        "--reload", choices=("manual", "OnCommit"), help="the reader's reload policy to set"
    )
    parser.add_argument("--threads", action="store_true", help="CPU per thread name too")
    parser.add_argument("--only", choices=sorted(CADENCES), help="run one cadence (profiling)")
    args = parser.parse_args()
    tasks, vocab, _projects, _users = generate(args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = build(Path(tmp) / "shard", tasks)
        if args.reload:
            index.index.config_reader(args.reload)
        print(f"built {args.tasks} tasks in {time.perf_counter() - started:.1f} s")
        print(
            "| cadence | CPU s per s | commits/s | mean commit ms | fresh p50 ms "
            "| fresh p99 ms | fresh max ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for _ in range(args.rounds):
            for name, cadence in CADENCES.items():
                if args.only not in (None, name):
                    continue
                run = load(index, tasks, vocab, cadence, args)
                fresh = run.fresh_s or [0.0]
                print(
                    f"| {name} | {run.cpu_s / run.wall_s:.3f} | {run.commits / run.wall_s:.1f} "
                    f"| {run.commit_s / max(run.commits, 1) * 1000:.1f} "
                    f"| {percentile(fresh, 50) * 1000:.0f} | {percentile(fresh, 99) * 1000:.0f} "
                    f"| {max(fresh) * 1000:.0f} |",
                    flush=True,
                )
                if args.threads:
                    busy = sorted((run.threads or {}).items(), key=lambda kv: -kv[1])
                    print("  " + ", ".join(f"{k} {v / run.wall_s:.3f}" for k, v in busy if v > 0))


if __name__ == "__main__":
    main()
