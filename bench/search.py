"""Search benchmark: index N generated tasks directly into one shard's `TaskIndex`
(no HTTP, no Ray), then measure build time, size on disk, process RSS, query
latency for five kinds of query, and write-to-searchable latency under a steady
write load (commits every 50 ms, as the shard actor does).

Reference, measured in the same run: a brute-force scan that evaluates the same
resolved predicate against every generated task in memory
(`domain.filters.matches`, the evaluator boards use), on the same data.

    python -m bench.search --tasks 1000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psutil
from tantivy import Occur, Query

from bench.report import save
from domain.filters import Scope, TaskFacts, matches, parse, resolve
from search.index import TaskIndex
from search.query import TextOptions, terms, translate
from search.schema import IndexedTask, stem

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ORG = str(uuid4())
STATUSES = [("todo", "todo"), ("doing", "in_progress"), ("review", "in_progress"), ("done", "done")]
PRIORITIES = ["none", "low", "medium", "high", "urgent"]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnoprstuvwy"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return sorted(words)


def generate(
    n: int, seed: int = 7, projects_count: int = 50
) -> tuple[list[IndexedTask], list[str], list[UUID], list[str]]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like word frequencies
    projects = [uuid4() for _ in range(projects_count)]
    users = [str(uuid4()) for _ in range(200)]
    out = []
    for i in range(n):
        p = i % len(projects)
        status, category = rng.choice(STATUSES)
        words = rng.choices(vocab, weights, k=30)
        created = NOW - timedelta(minutes=rng.randint(0, 525_600))
        task = {
            "id": str(uuid4()),
            "key": f"P{p:02d}X-{i + 1}",
            "project_id": str(projects[p]),
            "title": " ".join(words[:6]).capitalize(),
            "description": " ".join(words[6:]),
            "status": status,
            "priority": rng.choice(PRIORITIES),
            "assignee_id": rng.choice(users) if rng.random() < 0.8 else None,
            "reporter_id": rng.choice(users),
            "created_at": created.isoformat(),
            "updated_at": (created + timedelta(minutes=rng.randint(0, 10_000))).isoformat(),
            "version": 1,
            "labels": rng.sample([f"l{k}" for k in range(20)], k=rng.randint(0, 3)),
            "due_date": (NOW + timedelta(days=rng.randint(-30, 60))).date().isoformat()
            if rng.random() < 0.3
            else None,
            "sprint_id": None,
            "estimate": None,
        }
        out.append(IndexedTask(task, ORG, category))
    return out, vocab, projects, users


@contextmanager
def built_index(tasks: list[IndexedTask], name: str) -> Iterator[TaskIndex]:
    """One shard's index of `tasks`, committed, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix=f"taskhive-{name}-bench-") as tmp:
        index = TaskIndex(Path(tmp) / "shard-0", heap_bytes=256_000_000)
        for item in tasks:
            index.add_new(item)
        index.commit()
        yield index


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def query_cases(
    rng: random.Random, vocab: list[str], k: int
) -> dict[str, list[tuple[str, TextOptions]]]:
    common = vocab[:300]
    cases: dict[str, list[tuple[str, TextOptions]]] = {
        "free text": [],
        "filter only": [],
        "mixed": [],
        "fuzzy": [],
        "prefix": [],
    }
    for _ in range(k):
        a, b = rng.sample(common, 2)
        cases["free text"].append((f"{a} {b}", TextOptions()))
        cases["filter only"].append(
            (
                f"status:open priority:{rng.choice(PRIORITIES)} label:l{rng.randint(0, 19)} sort:updated-desc",
                TextOptions(),
            )
        )
        cases["mixed"].append((f"{a} status:open label:l{rng.randint(0, 19)}", TextOptions()))
        typo = a[:2] + a[3] + a[2] + a[4:] if len(a) > 4 else a + "x"
        cases["fuzzy"].append((typo, TextOptions(fuzzy=True)))
        cases["prefix"].append((a[:3], TextOptions(prefix=a[:3])))
    return cases


def run_queries(
    index: TaskIndex,
    projects: list[UUID],
    scope: Scope,
    cases: dict[str, list[tuple[str, TextOptions]]],
) -> dict[str, dict[str, float]]:
    schema = index.schema
    limits = [
        terms(schema, "org", [ORG]),
        terms(schema, "project", [str(p) for p in projects]),
    ]
    out = {}
    for kind, items in cases.items():
        times = []
        totals = []
        for text, opts in items:
            started = time.perf_counter()
            pred, sort = resolve(parse(text), scope)
            cond = translate(schema, pred, opts)
            query = Query.boolean_query([(Occur.Must, q) for q in [*limits, cond]])
            page = index.search(
                query,
                sort=sort,
                limit=20,
                offset=0,
                highlight=cond if kind != "filter only" else None,
            )
            times.append((time.perf_counter() - started) * 1000)
            totals.append(page.total)
        out[kind] = {
            "p50_ms": percentile(times, 50),
            "p99_ms": percentile(times, 99),
            "mean_hits": statistics.mean(totals),
        }
    return out


def brute_force(
    tasks: list[IndexedTask],
    scope: Scope,
    cases: dict[str, list[tuple[str, TextOptions]]],
    per_kind: int,
) -> dict[str, float]:
    out = {}
    facts = [TaskFacts(t.task, t.category) for t in tasks]
    for kind, items in cases.items():
        times = []
        for text, _ in items[:per_kind]:
            started = time.perf_counter()
            pred, _ = resolve(parse(text), scope)
            _ = sum(1 for f in facts if matches(pred, f, stem=stem))
            times.append((time.perf_counter() - started) * 1000)
        out[kind] = statistics.median(times)
    return out


def freshness(
    index: TaskIndex, tasks: list[IndexedTask], *, rate: int, seconds: float
) -> dict[str, float]:
    """Write `rate` docs/s; commit every 50 ms; measure write → visible for each."""
    lock = threading.Lock()
    written: dict[str, float] = {}
    seen: list[float] = []
    stop = threading.Event()

    def committer() -> None:
        while not stop.is_set():
            time.sleep(0.05)
            with lock:
                index.commit()

    def watcher() -> None:
        schema = index.schema
        while not stop.is_set() or written:
            with lock:
                pending = list(written.items())
            # Commits publish writes in order: stop at the first one not visible yet.
            searcher = index.index.searcher()
            for task_id, at in pending:
                if not searcher.search(Query.term_query(schema, "id", task_id), 1).hits:
                    break
                seen.append(time.perf_counter() - at)
                with lock:
                    written.pop(task_id, None)
            time.sleep(0.005)

    threads = [threading.Thread(target=committer), threading.Thread(target=watcher)]
    for th in threads:
        th.start()
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        item = tasks[i % len(tasks)]
        doc = IndexedTask({**item.task, "id": str(uuid4())}, ORG, item.category)
        with lock:
            index.upsert([doc])
            written[doc.task["id"]] = time.perf_counter()
        i += 1
        time.sleep(max(0.0, started + i / rate - time.perf_counter()))
    stop.set()
    for th in threads:
        th.join(timeout=10)
    return {
        "writes": i,
        "p50_ms": percentile(seen, 50) * 1000,
        "p99_ms": percentile(seen, 99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100, help="per kind")
    parser.add_argument(
        "--reference-queries", type=int, default=3, help="brute-force scans per kind"
    )
    parser.add_argument(
        "--reference-tasks",
        type=int,
        default=20_000,
        help="the brute-force scan runs on this many of the tasks, scaled linearly to all",
    )
    parser.add_argument(
        "--write-rate", type=int, default=200, help="docs/s during the freshness run"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    tasks, vocab, projects, _ = generate(args.tasks)
    gen_s = time.perf_counter() - t0
    rss_data = proc.memory_info().rss
    with tempfile.TemporaryDirectory(
        prefix="taskhive-search-bench-", ignore_cleanup_errors=True
    ) as tmp:
        index = TaskIndex(Path(tmp) / "shard-0", heap_bytes=256_000_000)
        t1 = time.perf_counter()
        batch = 10_000
        for start in range(0, len(tasks), batch):
            for item in tasks[start : start + batch]:
                index.add_new(item)
        index.commit()
        build_s = time.perf_counter() - t1
        size = index.size_bytes()
        rss_index = proc.memory_info().rss
        scope = Scope(me=uuid4(), now=NOW)
        rng = random.Random(11)
        cases = query_cases(rng, vocab, args.queries)
        run_queries(index, projects, scope, {k: v[:5] for k, v in cases.items()})  # warm up
        queries = run_queries(index, projects, scope, cases)
        ref_tasks = tasks[: args.reference_tasks]
        measured = brute_force(ref_tasks, scope, cases, args.reference_queries)
        scale = len(tasks) / len(ref_tasks)
        reference = {k: v * scale for k, v in measured.items()}
        fresh = freshness(index, tasks, rate=args.write_rate, seconds=10.0)
    result: dict[str, Any] = {
        "tasks": args.tasks,
        "generate_s": gen_s,
        "build_s": build_s,
        "docs_per_s": args.tasks / build_s,
        "index_bytes": size,
        "rss_after_data_mb": (rss_data - rss0) / 2**20,
        "rss_after_index_mb": (rss_index - rss0) / 2**20,
        "queries": queries,
        "reference_brute_force_p50_ms": reference,
        "reference_measured_on_tasks": len(ref_tasks),
        "freshness": fresh,
        "when": datetime.now(UTC).isoformat(),
        "cpus": psutil.cpu_count(),
    }
    lines = [
        f"# Search benchmark ({args.tasks:,} tasks, {psutil.cpu_count()} CPUs)",
        "",
        f"build {build_s:.1f} s ({args.tasks / build_s:,.0f} docs/s), index {size / 2**20:.0f} MiB on disk, "
        f"RSS +{(rss_index - rss_data) / 2**20:.0f} MiB for the index (+{(rss_data - rss0) / 2**20:.0f} MiB generated data)",
        "",
        f"| query | p50 ms | p99 ms | mean hits | brute-force scan p50 ms (on {len(ref_tasks):,} tasks, scaled) | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for kind, q in queries.items():
        ref = reference[kind]
        lines.append(
            f"| {kind} | {q['p50_ms']:.2f} | {q['p99_ms']:.2f} | {q['mean_hits']:.0f} | {ref:.0f} | {ref / q['p50_ms']:.0f}x |"
        )
    lines += [
        "",
        f"write → searchable under {args.write_rate} writes/s, commit every 50 ms: "
        f"p50 {fresh['p50_ms']:.0f} ms, p99 {fresh['p99_ms']:.0f} ms ({fresh['writes']} writes)",
    ]
    text = "\n".join(lines)
    print(text)
    save(args.out, "search", result, text)


if __name__ == "__main__":
    main()
