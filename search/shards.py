"""Which shard actor holds an organisation, and finding the actors by name.

Organisations are spread over `TASKHIVE_SEARCH_SHARDS` named actors
(`taskhive-search-0` …) by a hash of the organisation id; every caller computes
the same shard, so no directory is needed. Callers that do not know the shard
count ask shard 0 once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ray.exceptions import RayActorError, RayTaskError

from storage import channel as host_channel

NAMESPACE = "taskhive"
PREFIX = "taskhive-search-"
CONSUMER_NAME = "search"


def actor_name(shard: int) -> str:
    return f"{PREFIX}{shard}"


def shard_of(org_id: UUID | str, shards: int) -> int:
    """The shard of an organisation: stable across processes and restarts."""
    oid = org_id if isinstance(org_id, UUID) else UUID(str(org_id))
    return int.from_bytes(oid.bytes[:8], "big") % shards


class ShardUnreachable(Exception):
    """The shard actor does not exist (yet) or is restarting."""


class ShardHandles:
    """Named shard actors, looked up once per process and cached, and the calls
    made to them: over each shard's channel (`storage.channel`: about a third
    of a Ray call's CPU on either side) when it is up, through Ray otherwise."""

    def __init__(self, shards: int | None = None) -> None:
        self._shards = shards
        self._handles: dict[int, Any] = {}
        self._channels = host_channel.Channels("search shard")
        self._use_channels = host_channel.enabled()

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

    async def all(self) -> list[Any]:
        return [self._get(i) for i in range(await self.count())]

    async def call_grouped(self, method: str, items: Sequence[tuple[UUID | str, Any]]) -> None:
        """`method(tuple of items)` once on each shard that holds some of the items'
        organisations (`(org id, item)` pairs), the shards concurrently. Raises as
        `call` does."""
        count = await self.count()
        by_shard: dict[int, tuple[UUID | str, list[Any]]] = {}
        for org_id, item in items:
            by_shard.setdefault(shard_of(org_id, count), (org_id, []))[1].append(item)
        await asyncio.gather(
            *(self.call(org_id, method, tuple(group)) for org_id, group in by_shard.values())
        )

    async def call(self, org_id: UUID | str, method: str, *args: Any) -> Any:
        """`method(*args)` on the organisation's shard. Raises what the shard raised
        (without Ray's wrapper), or `ShardUnreachable`.

        A call whose channel broke is made again through Ray: both methods callers
        send (`search`, `apply_many` of documents carrying current state) may run twice.
        """
        try:
            shard = shard_of(org_id, await self.count())
            handle = self._get(shard)
        except (ValueError, RayActorError) as exc:  # no such actor yet, or restarting
            raise ShardUnreachable(str(exc)) from exc
        if self._use_channels:
            channel = await self._channels.get(
                actor_name(shard), lambda: handle.channel_address.remote()
            )
            if channel is not None:
                try:
                    return await channel.call(method, ("", ""), args)
                except host_channel.ChannelClosed:
                    pass  # through Ray, which knows when the shard is back
        try:
            return await getattr(handle, method).remote(*args)
        except RayTaskError as exc:
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise
        except RayActorError as exc:
            raise ShardUnreachable(str(exc)) from exc
