"""A search's work on the caller's project set, outside the index: the replica
spelling the readable project ids, the request crossing to the shard (pickled
both ways, as the shard's channel does) and the shard scoping by them. The ids
spelled and sent with every search (the form before) against the organisation's
ids spelled once per catalog version and sent by name once the shard keeps them
(`SearchRequest.scope_key`), in the same run.

A member of one organisation reads every project; the shard holds all of them.

    python -m bench.search_request --projects 100,1000,5000
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench.report import save
from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import Words
from domain.permissions import (
    Grants,
    OrgProjects,
    OrgRole,
    ProjectFacts,
    Visibility,
    readable_split,
)
from search.index import scope_parts
from search.messages import SearchRequest
from search.project_sets import ProjectSets
from search.schema import build_schema

ORG = str(uuid4())
QUERY = Words(("payment",))
RELEVANCE = Sort(SortKey.RELEVANCE)


def spelled(projects: OrgProjects, grants: Grants, held: frozenset[str], schema: Any) -> int:
    """Before: ids spelled per search, sent every time, copied at the shard."""
    ids = readable_split(grants, projects).ids
    request = SearchRequest(ORG, tuple(str(p) for p in ids), QUERY, RELEVANCE)
    got: SearchRequest = pickle.loads(pickle.dumps(request, 5))
    readable = got.project_ids or ()
    return len(scope_parts(schema, ORG, readable, set(frozenset(held)), alone=True))


def named(
    projects: OrgProjects, grants: Grants, held: frozenset[str], schema: Any, sets: ProjectSets
) -> int:
    """After: the organisation's text form, sent by name to a shard that keeps it."""
    found = readable_split(grants, projects)
    request = SearchRequest(ORG, None, QUERY, RELEVANCE, scope_key=found.texts_key)
    got: SearchRequest = pickle.loads(pickle.dumps(request, 5))
    readable = sets.readable(got)
    return len(scope_parts(schema, ORG, readable, held, alone=True))


def _time(run: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            run()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def measure(count: int) -> dict[str, Any]:
    projects = OrgProjects.of(ProjectFacts(uuid4(), uuid4(), Visibility.ORG) for _ in range(count))
    grants = Grants(uuid4(), OrgRole.MEMBER, {}, {})
    held = frozenset(projects.texts)
    schema = build_schema()
    sets = ProjectSets(16)
    first = SearchRequest(ORG, projects.texts, QUERY, RELEVANCE, scope_key=projects.texts_key)
    sets.readable(first)  # the first search of this set sent the ids with the name
    if spelled(projects, grants, held, schema) != named(projects, grants, held, schema, sets):
        raise AssertionError("the two forms scope differently")
    rounds = max(20, 20_000 // count)
    sizes = {
        "spelled": len(pickle.dumps(SearchRequest(ORG, projects.texts, QUERY, RELEVANCE), 5)),
        "named": len(
            pickle.dumps(
                SearchRequest(ORG, None, QUERY, RELEVANCE, scope_key=projects.texts_key), 5
            )
        ),
    }
    return {
        "projects": count,
        "spelled_us": _time(lambda: spelled(projects, grants, held, schema), rounds),
        "named_us": _time(lambda: named(projects, grants, held, schema, sets), rounds),
        "spelled_bytes": sizes["spelled"],
        "named_bytes": sizes["named"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--projects", default="100,1000,5000")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    rows = [measure(int(n)) for n in args.projects.split(",")]
    lines = [
        "# A search's work on its project set",
        "",
        f"`python -m bench.search_request --projects {args.projects}`: per search, the "
        "replica's spelling of the readable ids, the request pickled and unpickled, and "
        "the shard's scoping; best of five rounds. Reference: the ids spelled and sent "
        "with every search (the form before), in the same run.",
        "",
        "| projects | spelled and sent µs | named µs | request bytes before | after |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['projects']:,} | {r['spelled_us']:.1f} | {r['named_us']:.1f} | "
            f"{r['spelled_bytes']:,} | {r['named_bytes']:,} |"
        )
    text = "\n".join(lines)
    print(text)
    save(args.out, "search-request", {"rows": rows}, text)


if __name__ == "__main__":
    main()
