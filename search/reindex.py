"""Rebuilding shards from PostgreSQL while they keep serving (`taskhive reindex`).

Each involved shard starts a new generation; the organisations' tasks are read
in snapshot batches and written with it (searches see old and new documents,
never a gap); at the end each shard drops the documents of older generations and
has the consumer redeliver whatever changed after the snapshot. Losing the
index therefore loses nothing: this rebuilds it all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from search import source
from search.shards import shard_of


async def count_tasks(engine: AsyncEngine, orgs: Sequence[UUID]) -> int:
    async with engine.connect() as conn:
        return sum([await source.count_org_tasks(conn, org) for org in orgs])


async def organisations(engine: AsyncEngine, org: UUID | None) -> list[UUID]:
    if org is not None:
        return [org]
    async with engine.connect() as conn:
        return await source.org_ids(conn)


async def reindex(
    engine: AsyncEngine,
    handles: Sequence[Any],
    orgs: Sequence[UUID],
    *,
    whole: bool,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Rewrite `orgs` into their shards (`handles`, one per shard); `whole` means
    `orgs` are all organisations, so anything else in the shards is dropped too.
    Returns the documents the shards hold afterwards."""
    shards = len(handles)
    involved = sorted({shard_of(org, shards) for org in orgs})
    gens = {s: await handles[s].begin_reindex.remote() for s in involved}
    versions: dict[int, dict[str, int]] = defaultdict(dict)
    for org in orgs:
        shard = shard_of(org, shards)
        async for snapshot, items in source.iter_org(engine, org):
            versions[shard].update({str(k): v for k, v in snapshot.items()})
            if items:
                await handles[shard].add.remote(items, gens[shard])
                progress(len(items))
    total = 0
    for s in involved:
        scope = None if whole else (str(orgs[0]) if len(orgs) == 1 else None)
        total += await handles[s].finish_reindex.remote(gens[s], scope, versions[s])
    return total
