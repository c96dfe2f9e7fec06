"""The replica's task-reference cache: bytes per entry and time per lookup of
`serve_app.task_refs.RefCache` against the layout it replaced (an LRU keyed by
`(org_id, reference)` holding `(project_id, task_id)` tuples), in the same run.

N references of tasks spread over 1,000 projects of one organisation, ids as
the API sees them (the task id as text); memory by tracemalloc of what each
resolved miss leaves behind (the reference's text, and the task id object when
the layout keeps one).

    python -m bench.ref_cache --entries 250000
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

from bench.report import save
from serve_app.task_refs import Location, RefCache


class _Cache(Protocol):
    def get(self, key: tuple[UUID, str]) -> Location | None: ...
    def put(self, key: tuple[UUID, str], value: Location) -> None: ...


class TupleKeyed:
    """The reference: the layout before, an LRU of `(org_id, ref)` → `(project_id, task_id)`."""

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[tuple[UUID, str], Location] = OrderedDict()
        self._capacity = capacity

    def get(self, key: tuple[UUID, str]) -> Location | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[UUID, str], value: Location) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)


def measure(cache: _Cache, tasks: list[tuple[UUID, bytes]], org: UUID) -> dict[str, float]:
    """Put every task as a resolved miss does (a task id object made for it, and
    its reference's text), then time hits."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for project, raw in tasks:
        task = UUID(bytes=raw)
        cache.put((org, str(task)), (project, task))
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    sample = random.Random(3).sample(tasks, min(len(tasks), 100_000))
    refs = [str(UUID(bytes=raw)) for _, raw in sample]
    started = time.perf_counter()
    for ref in refs:
        if cache.get((org, ref)) is None:
            raise AssertionError(f"{ref} was put and is missing")
    per_get = (time.perf_counter() - started) / len(refs)
    return {"bytes_per_entry": held / len(tasks), "get_us": per_get * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=250_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    org = uuid4()
    projects = [uuid4() for _ in range(1000)]
    rng = random.Random(7)
    tasks = [(rng.choice(projects), uuid4().bytes) for _ in range(args.entries)]
    rows: dict[str, dict[str, Any]] = {}
    for name, make in (("tuple keyed (before)", TupleKeyed), ("RefCache", RefCache)):
        rows[name] = measure(make(args.entries), tasks, org)
        print(name, rows[name], flush=True)
    before, after = rows["tuple keyed (before)"], rows["RefCache"]
    lines = [
        f"# Task-reference cache ({args.entries:,} entries)",
        "",
        f"`python -m bench.ref_cache --entries {args.entries}`: bytes per entry by "
        "tracemalloc (what a resolved miss leaves: the reference's text and the "
        "task id object the layout keeps), "
        "and the mean time of 100,000 hits. Reference: the layout before, in the same run.",
        "",
        "| layout | bytes per entry | get µs | entries in 40 MiB |",
        "|---|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['bytes_per_entry']:.0f} | {r['get_us']:.2f} | "
            f"{40 * 2**20 / r['bytes_per_entry']:,.0f} |"
        )
    lines.append("")
    lines.append(
        f"RefCache holds {before['bytes_per_entry'] / after['bytes_per_entry']:.1f} times "
        "as many references in the same memory."
    )
    text = "\n".join(lines)
    print(text)
    save(args.out, "ref-cache", {"entries": args.entries, "rows": rows}, text)


if __name__ == "__main__":
    main()
