"""How a search is scoped to what the caller may read, over many projects: the
readable projects named as a term set (every search did this before, and it is
the reference here), against the organisation term with the held projects the
caller may not read excluded (`search.index.scope_parts`), and the same without
the organisation term, as an organisation alone in its index is searched.

One shard's `TaskIndex` with N generated tasks spread over P projects of one
organisation, no HTTP and no Ray. Each query is a common title word (tens of
thousands of matches at a million tasks, all counted), limit 20, as `GET
/api/v1/search?q=` runs it. Scopes measured, each against the term set of the
same readable projects:

- every project readable (the usual member of an open organisation);
- all but 1 % readable (a few private projects);
- one project readable (a `project:` filter, or a single-project member).

    python -m bench.search_scope --tasks 1000000 --projects 1000
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tantivy import Occur, Query

from bench.report import save
from bench.search import ORG, built_index, generate, percentile
from search.index import TaskIndex, scope_parts
from search.query import terms
from search.schema import stem


def _timed(index: TaskIndex, query: Query, repeat: int) -> tuple[list[float], int]:
    times, total = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        page = index.search(query, sort=None, limit=20, offset=0)
        times.append((time.perf_counter() - started) * 1000)
        total = page.total
    return times, total


def compare(
    index: TaskIndex, words: list[str], readable: Collection[str], held: Collection[str]
) -> dict[str, Any]:
    """p50/p99 of the term-set scope, of `scope_parts`' choice and of its choice for an
    organisation alone in the index; same words, same hits."""
    schema = index.schema
    old_ms: list[float] = []
    new_ms: list[float] = []
    alone_ms: list[float] = []
    for word in words:
        condition = Query.term_query(schema, "title", stem(word))
        named = Query.boolean_query(
            [
                (Occur.Must, terms(schema, "org", [ORG])),
                (Occur.Must, terms(schema, "project", readable)),
                (Occur.Must, condition),
            ]
        )
        chosen = Query.boolean_query(
            [*scope_parts(schema, ORG, readable, held), (Occur.Must, condition)]
        )
        alone_parts = scope_parts(schema, ORG, readable, held, alone=True)
        alone = (
            Query.boolean_query([*alone_parts, (Occur.Must, condition)])
            if alone_parts
            else condition
        )
        t_old, n_old = _timed(index, named, 3)
        t_new, n_new = _timed(index, chosen, 3)
        t_alone, n_alone = _timed(index, alone, 3)
        if not n_old == n_new == n_alone:
            raise AssertionError(f"{word!r}: {n_old} hits named, {n_new} scoped, {n_alone} alone")
        old_ms += t_old
        new_ms += t_new
        alone_ms += t_alone
    old_p50, new_p50 = percentile(old_ms, 50), percentile(new_ms, 50)
    alone_p50 = percentile(alone_ms, 50)
    return {
        "readable": len(readable),
        "excluded": len(set(held) - set(readable)),
        "term_set_p50_ms": old_p50,
        "term_set_p99_ms": percentile(old_ms, 99),
        "scoped_p50_ms": new_p50,
        "scoped_p99_ms": percentile(new_ms, 99),
        "speedup": old_p50 / new_p50 if new_p50 else float("nan"),
        "alone_p50_ms": alone_p50,
        "alone_p99_ms": percentile(alone_ms, 99),
        "alone_speedup": old_p50 / alone_p50 if alone_p50 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=30, help="words per scope")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    tasks, vocab, projects, _ = generate(args.tasks, projects_count=args.projects)
    ids = [str(p) for p in projects]
    rng = random.Random(5)
    words = [w.lower() for w in rng.sample(vocab[:50], min(args.queries, 50))]
    rows: dict[str, dict[str, Any]] = {}
    with built_index(tasks, "scope") as index:
        build_s = time.perf_counter() - t0
        held = index.held(ORG)
        assert held is not None and len(held) == args.projects
        hidden = max(1, args.projects // 100)
        cases = {
            "every project readable": ids,
            f"all but {hidden} readable": ids[hidden:],
            "one project readable": ids[:1],
        }
        compare(index, words[:3], ids, held)  # warm up
        for name, readable in cases.items():
            rows[name] = compare(index, words, readable, held)
            print(name, rows[name], flush=True)
    lines = [
        f"# Search scope ({args.tasks:,} tasks, {args.projects:,} projects, one organisation)",
        "",
        f"`python -m bench.search_scope --tasks {args.tasks} --projects {args.projects}`: "
        f"{len(words)} common title words per row, each 3 times, limit 20, matches counted; "
        f"generated and indexed in {build_s:.0f} s. Reference: the readable projects as a term set. "
        "Org alone: no organisation clause (the index holds one organisation).",
        "",
        "| readable | excluded | term set p50 ms | p99 ms | scoped p50 ms | p99 ms | speed-up "
        "| org alone p50 ms | p99 ms | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} ({r['readable']:,}) | {r['excluded']:,} | {r['term_set_p50_ms']:.2f} | "
            f"{r['term_set_p99_ms']:.2f} | {r['scoped_p50_ms']:.2f} | {r['scoped_p99_ms']:.2f} | "
            f"{r['speedup']:.1f}x | {r['alone_p50_ms']:.2f} | {r['alone_p99_ms']:.2f} | "
            f"{r['alone_speedup']:.1f}x |"
        )
    text = "\n".join(lines)
    print(text)
    result = {"tasks": args.tasks, "projects": args.projects, "build_s": build_s, "rows": rows}
    save(args.out, "search-scope", result, text)


if __name__ == "__main__":
    main()
