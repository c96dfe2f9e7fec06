"""The word being typed: matching it as a prefix by an automaton over the term
dictionary (which finds the word itself again, a second pass over every task
holding it), against naming the longer words the index holds
(`TaskIndex.completions`, what the shard does).

One shard's `TaskIndex` with N generated tasks (a 5,000-word vocabulary with
Zipf frequencies), no HTTP and no Ray. Each query is one word as `GET
/api/v1/search?q=` runs it while it is typed: limit 20, highlights, matches
counted, the organisation alone in the index. Both forms are timed on the same
searcher, alternating, and must count the same matches.

    python -m bench.search_typing --tasks 1000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import tantivy
from tantivy import Query

from bench.report import save
from bench.search import ORG, built_index, generate, percentile
from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import Words
from search.index import TaskIndex
from search.query import TextOptions, translate

RELEVANCE = Sort(SortKey.RELEVANCE)


def by_automaton(schema: tantivy.Schema, word: str) -> Query:
    """The reference: the exact clauses, and the prefix as an automaton that also
    matches the word itself."""
    exact = translate(schema, Words((word,)))
    prefix = Query.fuzzy_term_query(schema, "words", word, distance=0, prefix=True)
    return Query.disjunction_max_query([exact, Query.boost_query(prefix, 0.8)], tie_breaker=0.1)


def by_completions(index: TaskIndex, searcher: tantivy.Searcher, word: str) -> Query:
    completions = index.completions(searcher, word)
    options = TextOptions(prefix=word, completions=completions)
    return translate(index.schema, Words((word,)), options)


def compare(index: TaskIndex, words: list[str], repeat: int = 3) -> dict[str, Any]:
    searcher = index.searcher()
    readable = tuple(index.held(ORG) or ())
    times: dict[str, list[float]] = {"automaton": [], "completions": []}
    matches: list[int] = []
    for word in words:
        totals = set()
        for _ in range(repeat):
            for name in times:
                started = time.perf_counter()
                if name == "automaton":
                    query = by_automaton(index.schema, word)
                else:
                    query = by_completions(index, searcher, word)
                page = index.search(
                    query,
                    sort=RELEVANCE,
                    limit=20,
                    offset=0,
                    highlight=query,
                    within=(ORG, readable),
                    searcher=searcher,
                )
                times[name].append((time.perf_counter() - started) * 1000)
                totals.add(page.total)
        if len(totals) != 1:
            raise AssertionError(f"{word!r}: the two forms count {sorted(totals)} matches")
        matches.append(totals.pop())
    before, after = times["automaton"], times["completions"]
    return {
        "words": len(words),
        "matches_mean": statistics.mean(matches),
        "automaton_p50_ms": percentile(before, 50),
        "automaton_p99_ms": percentile(before, 99),
        "completions_p50_ms": percentile(after, 50),
        "completions_p99_ms": percentile(after, 99),
        "speedup": percentile(before, 50) / max(percentile(after, 50), 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=30, help="words per row")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    tasks, vocab, _, _ = generate(args.tasks)
    rng = random.Random(5)
    common = [w.lower() for w in rng.sample(vocab[:100], min(args.queries, 100))]
    rare = [w.lower() for w in rng.sample(vocab[2000:3000], args.queries)]
    cases = {
        "a common word, typed whole": common,
        "its first three letters": [w[:3] for w in common],
        "a rare word, typed whole": rare,
    }
    rows: dict[str, dict[str, Any]] = {}
    with built_index(tasks, "typing") as index:
        build_s = time.perf_counter() - t0
        compare(index, common[:3])  # warm up
        for name, words in cases.items():
            rows[name] = compare(index, words)
            print(name, rows[name], flush=True)
    lines = [
        f"# The word being typed ({args.tasks:,} tasks)",
        "",
        f"`python -m bench.search_typing --tasks {args.tasks}`: {args.queries} words per row, "
        "each 3 times per form, alternating; limit 20, highlights, matches counted; "
        f"generated and indexed in {build_s:.0f} s. Reference: the prefix as an automaton "
        "(the form used before). Both forms counted the same matches for every word.",
        "",
        "| typed | mean matches | automaton p50 ms | p99 ms | named completions p50 ms "
        "| p99 ms | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['matches_mean']:,.0f} | {r['automaton_p50_ms']:.2f} | "
            f"{r['automaton_p99_ms']:.2f} | {r['completions_p50_ms']:.2f} | "
            f"{r['completions_p99_ms']:.2f} | {r['speedup']:.1f}x |"
        )
    text = "\n".join(lines)
    print(text)
    save(args.out, "search-typing", {"tasks": args.tasks, "build_s": build_s, "rows": rows}, text)


if __name__ == "__main__":
    main()
