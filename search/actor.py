"""The search shard actor: one Tantivy index per shard of organisations.

A named, detached Ray actor (`taskhive-search-N`, `num_cpus=0`). The outbox
consumer (`search.consumer`) hands it the projects' changes of each pass
(`apply_many`); it adds
them to the writer at once and commits in small batches, reloading the
searcher: `commit_interval_s` after a change on an idle shard, up to
`commit_max_interval_s` when commits take long (`search.cadence`), so a change
is searchable tens to a few hundred milliseconds after it arrives. The reload
is explicit because the reader's own policy notices a commit only when its file
watcher polls (every 500 ms). Searches and commits run in threads
(Tantivy releases the GIL), so neither blocks the actor's event loop.
`search` and `apply_many` also arrive over the shard's channel
(`storage.channel`), which costs callers and the shard a fraction of a Ray
call; Ray calls remain the fallback.

Recovery, run in the background at every start (Ray re-runs the constructor
after a crash):
- index files missing or unreadable → an empty index, rebuilt from PostgreSQL;
- in every case the consumer's offsets of the shard's projects are rewound to
  the positions the committed index reaches, so changes received but never
  committed are delivered again (they are idempotent: documents carry current
  state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import ray
from sqlalchemy import select, update

from search import source
from search.cadence import CAP_S, FLOOR_S, Cadence
from search.index import TaskIndex
from search.messages import (
    ApplyBatch,
    SearchHit,
    SearchRequest,
    SearchResult,
    ShardRecovering,
)
from search.project_sets import ProjectSets
from search.query import TextOptions, has_free_text, translate
from search.results import ResultCache, key_of
from search.schema import IndexedTask
from search.shards import CONSUMER_NAME, NAMESPACE, actor_name, shard_of
from storage import channel as host_channel
from storage import tables as t
from storage.db import create_engine

log = logging.getLogger(__name__)

#: Fewer exact hits than this on the first page and free text is retried fuzzily.
FUZZY_BELOW = 3

#: How long a search waits for a shard's startup recovery before giving up.
RECOVERY_WAIT_S = 5.0

#: What callers may send over the shard's channel (`ShardHandles.call`).
CHANNEL_METHODS = frozenset({"search", "apply_many"})

#: How many named project sets (`SearchRequest.scope_key`) a shard keeps.
SCOPES_KEPT = 1024


@dataclass(frozen=True, slots=True)
class SearchConfig:
    database_url: str
    index_dir: str
    shards: int = 1
    commit_interval_s: float = FLOOR_S
    commit_max_interval_s: float = CAP_S
    heap_bytes: int = 64_000_000


class SearchShard:
    """See the module docstring."""

    async def __init__(self, config: SearchConfig, shard: int) -> None:  # type: ignore[misc]
        self._config = config
        self._shard = shard
        self._engine = create_engine(config.database_url, pool_size=2)
        self._index = TaskIndex(
            Path(config.index_dir) / f"shard-{shard}", heap_bytes=config.heap_bytes
        )
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._scopes = ProjectSets(SCOPES_KEPT)
        self._results = ResultCache()
        self.recovered = asyncio.Event()
        self._started_at = time.time()
        self._tasks = [
            asyncio.create_task(self._commit_loop()),
            asyncio.create_task(self._recover()),
        ]
        # Searches and the relay's changes arrive here too, cheaper than Ray calls.
        self._channel = host_channel.ChannelServer(self._run_for_channel, CHANNEL_METHODS)

    async def shard_count(self) -> int:
        return self._config.shards

    async def ready(self) -> bool:
        """Whether startup recovery (a rebuild, if one was needed) has finished."""
        return self.recovered.is_set()

    async def wait_ready(self, timeout_s: float = 600.0) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.recovered.wait(), timeout_s)
        return self.recovered.is_set()

    # -- changes -------------------------------------------------------------------

    async def apply_many(self, batches: Sequence[ApplyBatch]) -> None:
        """Take the changes of the relay's pass, project by project in order; they
        are committed within `commit_max_interval_s` (plus the commit in progress,
        if any)."""
        async with self._lock:
            for batch in batches:
                if batch.drop_project:
                    self._index.delete_project(batch.project_id)
                self._index.delete_tasks(batch.gone)
                self._index.upsert(batch.items)
                self._index.note(batch.project_id, batch.version)
        self._dirty.set()

    async def flush(self) -> None:
        """Commit now (tests, benchmarks, the end of a reindex)."""
        async with self._lock:
            await asyncio.to_thread(self._index.commit)

    async def _commit_loop(self) -> None:
        cadence = Cadence(
            floor_s=self._config.commit_interval_s, cap_s=self._config.commit_max_interval_s
        )
        last_s, ended = 0.0, time.monotonic()
        while True:
            await self._dirty.wait()
            await asyncio.sleep(cadence.wait_s(last_s, time.monotonic() - ended))
            self._dirty.clear()
            try:
                async with self._lock:
                    started = time.monotonic()
                    await asyncio.to_thread(self._index.commit)
                    ended = time.monotonic()
                    last_s = ended - started
            except Exception:
                log.exception("search shard %d: commit failed; retrying", self._shard)
                self._dirty.set()
                await asyncio.sleep(1.0)

    # -- rebuilding ----------------------------------------------------------------

    async def begin_reindex(self) -> int:
        """Start a rebuild generation: documents written from now on carry it."""
        gen = time.time_ns() // 1000
        async with self._lock:
            self._index.positions.gen = gen
        return gen

    async def add(self, items: list[IndexedTask], gen: int) -> int:
        async with self._lock:
            return self._index.upsert(items, gen)

    async def finish_reindex(self, gen: int, org_id: str | None, versions: dict[str, int]) -> int:
        """Drop what the rebuild did not rewrite, commit, and have the consumer
        redeliver whatever changed after the rebuild's snapshot."""
        async with self._lock:
            self._index.delete_older(gen, org_id)
            for project_id, version in versions.items():
                self._index.note(project_id, version)
            await asyncio.to_thread(self._index.commit)
        await self._rewind(versions)
        return self._index.count()

    async def rebuild(self, org_id: str | None = None) -> int:
        """Rebuild the shard's organisations (or one) from PostgreSQL; documents."""
        gen = await self.begin_reindex()
        async with self._engine.connect() as conn:
            orgs = [UUID(org_id)] if org_id else await source.org_ids(conn)
        versions: dict[str, int] = {}
        for org in orgs:
            if shard_of(org, self._config.shards) != self._shard:
                continue
            async for snapshot, items in source.iter_org(self._engine, org):
                versions.update({str(k): v for k, v in snapshot.items()})
                await self.add(items, gen)
        return await self.finish_reindex(gen, org_id, versions)

    async def _recover(self) -> None:
        try:
            if self._index.fresh:
                log.warning("search shard %d: no usable index; rebuilding", self._shard)
                await self.rebuild()
            else:
                await self._rewind(dict(self._index.positions.projects))
        except Exception:
            log.exception("search shard %d: recovery failed", self._shard)
        finally:
            self.recovered.set()

    async def _rewind(self, positions: dict[str, int]) -> None:
        """Lower the consumer's offset of each of this shard's projects to what the
        committed index reaches (`positions`; 0 when absent)."""
        o, p = t.consumer_offsets.c, t.projects.c
        async with self._engine.begin() as conn:
            rows = await conn.execute(
                select(o.project_id, o.version, p.org_id)
                .select_from(t.consumer_offsets.join(t.projects, p.id == o.project_id))
                .where(o.consumer == CONSUMER_NAME)
            )
            for row in rows.all():
                if shard_of(row.org_id, self._config.shards) != self._shard:
                    continue
                target = positions.get(str(row.project_id), 0)
                if row.version > target:
                    await conn.execute(
                        update(t.consumer_offsets)
                        .where(o.consumer == CONSUMER_NAME, o.project_id == row.project_id)
                        .values(version=target)
                    )

    # -- searching -----------------------------------------------------------------

    async def search(self, request: SearchRequest) -> SearchResult:
        """Answer from the committed index; while startup recovery runs the index
        may be partial, so wait for it a little, then refuse rather than answer
        with missing tasks."""
        if not await self.wait_ready(RECOVERY_WAIT_S):
            raise ShardRecovering(f"search shard {self._shard} is rebuilding its index")
        return await asyncio.to_thread(self._search, request)

    def _search(self, request: SearchRequest) -> SearchResult:
        readable = self._scopes.readable(request)
        if not readable:
            return SearchResult((), 0, False, scope_kept=request.scope_key is not None)
        kept = request.scope_key is not None and request.project_ids is not None
        # Read before the searcher is taken (`search.results`).
        generation = self._index.generation
        key = key_of(request, readable)
        answer = None if key is None else self._results.get(generation, key)
        if answer is None:
            answer = self._answer(request, readable)
            if key is not None:
                self._results.put(generation, key, answer)
        hits, total, fuzzy = answer
        return SearchResult(hits, total, fuzzy, scope_kept=kept)

    def _answer(
        self, request: SearchRequest, readable: Collection[str]
    ) -> tuple[tuple[SearchHit, ...], int, bool]:
        text = has_free_text(request.predicate)
        fuzzy = bool(request.fuzzy)
        page = self._run(request, readable, fuzzy, text)
        if request.fuzzy is None and text and request.offset == 0 and page.total < FUZZY_BELOW:
            fuzzy = True
            page = self._run(request, readable, fuzzy, text)
        hits = tuple(SearchHit(h.task, h.score, h.highlights) for h in page.hits)
        return hits, page.total, fuzzy

    def _run(
        self, request: SearchRequest, readable: Collection[str], fuzzy: bool, text: bool
    ) -> Any:
        searcher = self._index.searcher()
        prefix = request.prefix
        completions = self._index.completions(searcher, prefix) if prefix else None
        options = TextOptions(fuzzy=fuzzy, prefix=prefix, completions=completions)
        condition = translate(self._index.schema, request.predicate, options)
        return self._index.search(
            condition,
            sort=request.sort,
            limit=request.limit,
            offset=request.offset,
            highlight=condition if request.highlight and text else None,
            within=(request.org_id, readable),
            searcher=searcher,
        )

    # -- the channel ---------------------------------------------------------------

    async def channel_address(self) -> host_channel.Address:
        """Where this shard's channel listens, and its token. Only Ray callers learn it."""
        return await self._channel.listen()

    async def _run_for_channel(
        self, method: str, context: tuple[str, str], args: tuple[Any, ...]
    ) -> Any:
        return await getattr(self, method)(*args)

    async def stats(self) -> dict[str, Any]:
        return {
            "shard": self._shard,
            "docs": self._index.count(),
            "bytes": self._index.size_bytes(),
            "recovered": self.recovered.is_set(),
            "started_at": self._started_at,
            "channel_calls": self._channel.calls,
            "scopes": len(self._scopes),
            "results_kept": len(self._results),
            "result_hits": self._results.hits,
            "result_misses": self._results.misses,
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self._channel.close()
        await self._engine.dispose()


def ensure_search(config: SearchConfig) -> list[Any]:
    """Get or create every shard actor; waits until each constructor ran (not for
    a rebuild to finish: `wait_ready` does that)."""
    handles = [
        ray.remote(SearchShard)
        .options(
            name=actor_name(shard),
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            max_concurrency=100,
            num_cpus=0,
        )
        .remote(config, shard)
        for shard in range(config.shards)
    ]
    ray.get([h.shard_count.remote() for h in handles])  # type: ignore[attr-defined]
    return handles
