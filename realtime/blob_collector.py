"""The blob collector: removes blobs no attachment needs any more, eventually.

It is an outbox consumer (`actors.outbox`) only to be woken early: events that
delete things (`attachment.removed`, `task.deleted`, `project.deleted`) make it
sweep soon; otherwise it sweeps every `interval_s`. A sweep

1. deletes the blob and thumbnail of every deleted attachment row, then the row
   (the blob first: a crash in between repeats a harmless delete);
2. aborts uploads abandoned half-way (older than `abandoned_after_s`);
3. deletes final blobs that no row names, older than `abandoned_after_s` (a
   replica that died between finishing an upload and recording it).

Deleting a comment leaves no blob behind: attachments belong to tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import attachments_read
from storage.blobs import BlobConfig, BlobStore, open_store
from storage.outbox import StoredEvent

log = logging.getLogger(__name__)

CONSUMER_NAME = "blob-collector"
_WAKING = frozenset({"attachment.removed", "task.deleted", "project.deleted"})


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Picklable factory of the collector, handed to the outbox relay actor."""

    blobs: BlobConfig
    interval_s: float = 300.0
    abandoned_after_s: float = 24 * 3600.0
    batch: int = 200

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> BlobCollector:
        return BlobCollector(self, engine, open_store(self.blobs))


class BlobCollector:
    name = CONSUMER_NAME
    #: Events only wake the sweep of deleted attachments, which can wait.
    linger_s = 2.0

    def __init__(self, config: CollectorConfig, engine: AsyncEngine, store: BlobStore) -> None:
        self._config = config
        self._engine = engine
        self.store = store
        self._wake = asyncio.Event()

    async def handle(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        if any(e.type in _WAKING for e in events):
            self._wake.set()
        return None

    async def background(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("blob collector sweep failed; next one retries")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.interval_s)
            self._wake.clear()

    async def sweep(self) -> dict[str, int]:
        """One full pass; counts of what it removed (for tests and logs)."""
        removed = await self._deleted_attachments()
        abandoned = await self.store.sweep_abandoned(self._config.abandoned_after_s)
        orphans = await self._orphans()
        return {"deleted": removed, "abandoned": abandoned, "orphans": orphans}

    async def _deleted_attachments(self) -> int:
        total = 0
        while True:
            async with self._engine.connect() as conn:
                rows = await attachments_read.deleted_attachments(conn, self._config.batch)
            if not rows:
                return total
            for row in rows:
                await self.store.delete(row.blob_key)
                if row.thumbnail_key:
                    await self.store.delete(row.thumbnail_key)
            async with self._engine.begin() as conn:
                await attachments_read.forget(conn, [r.id for r in rows])
            total += len(rows)

    async def _orphans(self) -> int:
        removed = 0
        prefixes = ("attachments/", "thumbnails/")
        for prefix in prefixes:
            keys: dict[UUID, str] = {}
            async for key in self.store.list_keys(prefix, self._config.abandoned_after_s):
                name = key.rsplit("/", 1)[-1].removesuffix(".png")
                with contextlib.suppress(ValueError):
                    keys[UUID(name)] = key
                if len(keys) >= self._config.batch:
                    removed += await self._drop_unknown(keys)
                    keys = {}
            removed += await self._drop_unknown(keys)
        return removed

    async def _drop_unknown(self, keys: dict[UUID, str]) -> int:
        if not keys:
            return 0
        async with self._engine.connect() as conn:
            known = await attachments_read.known_ids(conn, list(keys))
        unknown = [key for aid, key in keys.items() if aid not in known]
        for key in unknown:
            await self.store.delete(key)
        return len(unknown)

    async def close(self) -> None:
        await self.store.close()
