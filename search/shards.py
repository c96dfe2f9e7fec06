"""Which shard actor holds an organisation, and finding the actors by name.

Organisations are spread over `TASKHIVE_SEARCH_SHARDS` named actors
(`taskhive-search-0` …) by a hash of the organisation id; every caller computes
the same shard, so no directory is needed. Callers that do not know the shard
count ask shard 0 once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

NAMESPACE = "taskhive"
PREFIX = "taskhive-search-"
CONSUMER_NAME = "search"


def actor_name(shard: int) -> str:
    return f"{PREFIX}{shard}"


def shard_of(org_id: UUID | str, shards: int) -> int:
    """The shard of an organisation: stable across processes and restarts."""
    oid = org_id if isinstance(org_id, UUID) else UUID(str(org_id))
    return int.from_bytes(oid.bytes[:8], "big") % shards


class ShardHandles:
    """Named shard actors, looked up once per process and cached."""

    def __init__(self, shards: int | None = None) -> None:
        self._shards = shards
        self._handles: dict[int, Any] = {}

    def _get(self, shard: int) -> Any:
        import ray

        handle = self._handles.get(shard)
        if handle is None:
            handle = ray.get_actor(actor_name(shard), namespace=NAMESPACE)
            self._handles[shard] = handle
        return handle

    async def count(self) -> int:
        if self._shards is None:
            self._shards = int(await self._get(0).shard_count.remote())
        return self._shards

    async def for_org(self, org_id: UUID | str) -> Any:
        return self._get(shard_of(org_id, await self.count()))

    async def all(self) -> list[Any]:
        return [self._get(i) for i in range(await self.count())]
