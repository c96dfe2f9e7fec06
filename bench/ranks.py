"""Board order on a big project: the grain's rank index against sorting every card.

    python -m bench.ranks [--cards 10000]

One process, no stack: what a host spends to find a moved card's neighbour, to
read a board's first 50 cards per column after a write, and to stage a rank
rebalance of every card. The reference is the same answer from a full sort (what
the grain did before it kept an index), measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections.abc import Callable

from actors.rank_index import RankIndex
from actors.stage import _Stage
from actors.views import in_board_order
from domain import ranks as rank_rules
from domain.tasks import Task
from tests.unit.factories import make_project, make_task


def per_call_ms(work: Callable[[int], object], calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        work(i)
    return (time.perf_counter() - start) / calls * 1e3


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cards", type=int, default=10_000)
    n = p.parse_args(argv).cards
    project = make_project()
    statuses = list(project.statuses)
    spread = rank_rules.spread(n)
    rng = random.Random(7)
    cards = [
        make_task(project, i + 1, rank=spread[i], status=rng.choice(statuses)) for i in range(n)
    ]
    tasks = {t.id: t for t in cards}
    index = RankIndex(cards)

    def sorted_successor(i: int) -> str | None:
        moving = cards[i * 37 % n]
        ranks = sorted(t.rank for t in tasks.values() if t.id != moving.id and t.rank)
        return next((r for r in ranks if r > moving.rank), None)

    def indexed_successor(i: int) -> str | None:
        moving = cards[i * 37 % n]
        return _Stage(project, tasks, ranks=index).rank_after(moving.rank, moving.id)

    def sorted_board(_: int) -> list[list[Task]]:
        return [column[:50] for column in in_board_order(tasks.values()).values()]

    def indexed_board(_: int) -> list[list[Task]]:
        return [list(column[:50]) for column in index.columns(tasks).values()]

    def rebalance(stage: _Stage) -> Callable[[int], object]:
        def run(_: int) -> None:
            for card in cards:
                stage.put(dataclasses.replace(card, rank=card.rank + "i"))

        return run

    rows = [
        (
            "neighbour of a moved card",
            per_call_ms(sorted_successor, 20),
            per_call_ms(indexed_successor, 2000),
        ),
        (
            "board, 50 cards per column",
            per_call_ms(sorted_board, 20),
            per_call_ms(indexed_board, 2000),
        ),
    ]
    rows.append(
        (
            f"stage a rebalance of {n:,} cards",
            per_call_ms(rebalance(_ListStage(project, tasks)), 1),
            per_call_ms(rebalance(_Stage(project, tasks, ranks=index)), 1),
        )
    )
    print(f"{n:,} cards over {len(statuses)} columns (ms per operation)\n")
    print("| operation | full sort (reference) | rank index | speed-up |\n|---|---:|---:|---:|")
    for name, before, after in rows:
        print(f"| {name} | {before:.3f} | {after:.3f} | {before / after:,.0f}x |")


class _ListStage(_Stage):
    """The stage as it staged a changed card before: rebuilding the updated list."""

    def put(self, task: Task) -> None:
        self._overlay[task.id] = task
        self.batch.updated = [u for u in self.batch.updated if u.id != task.id] + [task]


if __name__ == "__main__":
    main()
