"""End-to-end search freshness: from a task write over HTTP to the task being found
by `GET /api/v1/search`, through the whole product.

`python -m bench.search` measures the index alone (insert to visible inside one
shard). This run measures what a user sees: the HTTP write, the grain's commit,
the outbox relay, the Ray call into the organisation's shard, the shard's next
commit, and a search over HTTP. It starts the stack as the product does
(embedded PostgreSQL and Redis), then for `--probes` probes, one after another:

1. creates a task whose title holds a word nobody else uses and notes when the
   write was acknowledged;
2. searches for that word every `--poll-ms` until it is found;
3. every fifth probe also deletes a found task and searches until it is gone.

Meanwhile `--rate` background requests per second (80 % task reads, 20 % task
updates, as in `bench.soak`) keep the stack busy. The reference, measured in the
same run: the index alone, written at the same rate in this process
(`bench.search.freshness`). Prints a table and writes
`bench/results/search-fresh-<stamp>.{json,md}`.

    python -m bench.search_fresh                      # 200 probes beside 20 req/s
    python -m bench.search_fresh --probes 50 --rate 0
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.search import freshness, generate, percentile
from bench.soak import Load, on_stack, open_loop, save, seed
from cluster.stack import Stack
from search.index import TaskIndex

#: A probe not found within this long counts as a miss (and is reported).
GIVE_UP_S = 10.0


async def _until(found: Any, poll_s: float) -> float | None:
    """Seconds until `found()` is true, or None after GIVE_UP_S."""
    started = time.perf_counter()
    while time.perf_counter() - started < GIVE_UP_S:
        if await found():
            return time.perf_counter()
        await asyncio.sleep(poll_s)
    return None


async def probes(load: Load, project_id: str, n: int, poll_s: float) -> dict[str, Any]:
    client, write_ms, ack_to_found_ms, write_to_found_ms, delete_ms = load.client, [], [], [], []
    misses = 0
    search_errors: dict[str, int] = {}

    async def hits(word: str) -> int | None:
        """The search's total, or None when the search failed (counted, retried)."""
        try:
            r = await client.get(
                "/api/v1/search", params={"q": word, "limit": 1}, headers=load.headers
            )
            r.raise_for_status()
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            search_errors[kind] = search_errors.get(kind, 0) + 1
            return None
        return int(r.json()["total"])

    for i in range(n):
        word = f"fresh{uuid.uuid4().hex[:10]}"
        started = time.perf_counter()
        r = await client.post(
            "/api/v1/tasks",
            json={"project_id": project_id, "title": f"probe {word}"},
            headers=load.headers,
        )
        r.raise_for_status()
        acked = time.perf_counter()

        async def visible(w: str = word) -> bool:
            return (await hits(w) or 0) > 0

        found = await _until(visible, poll_s)
        if found is None:
            misses += 1
            continue
        write_ms.append((acked - started) * 1000)
        ack_to_found_ms.append((found - acked) * 1000)
        write_to_found_ms.append((found - started) * 1000)
        if i % 5 == 0:
            deleted_at = time.perf_counter()
            d = await client.delete(f"/api/v1/tasks/{r.json()['id']}", headers=load.headers)
            d.raise_for_status()

            async def gone(w: str = word) -> bool:
                return await hits(w) == 0  # None (a failed search) is not "gone"

            removed = await _until(gone, poll_s)
            if removed is None:
                misses += 1
            else:
                delete_ms.append((removed - deleted_at) * 1000)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "p50_ms": percentile(values, 50) if values else 0.0,
            "p99_ms": percentile(values, 99) if values else 0.0,
            "max_ms": max(values, default=0.0),
        }

    return {
        "write": stats(write_ms),
        "ack_to_found": stats(ack_to_found_ms),
        "write_to_found": stats(write_to_found_ms),
        "delete_to_gone": stats(delete_ms),
        "misses": misses,
        "search_errors": search_errors,
    }


def index_alone(rate: int) -> dict[str, float]:
    """The reference: the same index code, written in this process at `rate`/s."""
    tasks, _, _, _ = generate(20_000)
    with tempfile.TemporaryDirectory(prefix="taskhive-fresh-", ignore_cleanup_errors=True) as tmp:
        index = TaskIndex(Path(tmp) / "shard-0", heap_bytes=64_000_000)
        for item in tasks:
            index.add_new(item)
        index.commit()
        return freshness(index, tasks, rate=max(rate, 1), seconds=10.0)


async def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, limits=limits) as client:
        load = await seed(client, projects=2, tasks=50)
        r = await client.post("/api/v1/projects", json={"name": "Probes"}, headers=load.headers)
        r.raise_for_status()
        project_id = r.json()["id"]
        await probes(load, project_id, 5, args.poll_ms / 1000)  # warm up: shard, caches
        background = None
        if args.rate > 0:
            background = asyncio.create_task(open_loop(load, args.rate, 10_000.0))
        try:
            measured = await probes(load, project_id, args.probes, args.poll_ms / 1000)
        finally:
            if background is not None:
                background.cancel()
        errors = dict(load.errors)
    return {
        "when": datetime.now(UTC).isoformat(),
        "cpus": psutil.cpu_count(),
        "load_average": psutil.getloadavg(),
        "probes": args.probes,
        "poll_ms": args.poll_ms,
        "background_rate": args.rate,
        "background_errors": errors,
        "end_to_end": measured,
        "reference_index_alone": index_alone(int(args.rate * 0.2) or 20),
    }


def markdown(result: dict[str, Any]) -> str:
    e2e, ref = result["end_to_end"], result["reference_index_alone"]
    rows = [
        ("write acknowledged (HTTP)", e2e["write"]),
        ("acknowledged → found by search", e2e["ack_to_found"]),
        ("write sent → found by search", e2e["write_to_found"]),
        ("delete acknowledged → gone from search", e2e["delete_to_gone"]),
    ]
    lines = [
        f"# Search freshness end to end, {result['when']}",
        "",
        f"{result['probes']} probes one after another, polling every {result['poll_ms']} ms, "
        f"beside {result['background_rate']} background req/s "
        f"(errors: {result['background_errors'] or 'none'}); load average "
        f"{', '.join(f'{x:.1f}' for x in result['load_average'])} on {result['cpus']} CPUs.",
        "",
        "| measure | n | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {s['n']} | {s['p50_ms']:.0f} | {s['p99_ms']:.0f} | {s['max_ms']:.0f} |"
        for name, s in rows
    ]
    lines += [
        f"| reference: the index alone, insert → visible | {ref['writes']} | "
        f"{ref['p50_ms']:.0f} | {ref['p99_ms']:.0f} | — |",
        "",
        f"Probes not found within {GIVE_UP_S:.0f} s: {e2e['misses']}; failed searches "
        f"(retried): {e2e['search_errors'] or 'none'}. "
        "The target is write → searchable within 1 s at p99.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--poll-ms", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="background req/s")
    args = parser.parse_args(argv)
    result = on_stack("fresh", lambda stack: run(args, stack))
    save("search-fresh", result, markdown(result))
    e2e = result["end_to_end"]
    return 0 if e2e["misses"] == 0 and e2e["write_to_found"]["p99_ms"] < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
