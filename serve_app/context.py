"""Per-replica resources and the typed dependencies routes take.

Routes declare what they need (`ctx: Ctx`, `principal: CurrentPrincipal`) and
never reach into the request for it themselves.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated
from uuid import UUID

import redis.asyncio as aioredis
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from actors.router import HostRouter
from domain.errors import Unauthenticated
from serve_app.config import AppConfig
from serve_app.security import Principal, decode_access_token


class RefCache:
    """A bounded LRU of task references → `(project_id, task_id)`.

    Safe to cache without invalidation: a task never changes project, and a
    reference to a deleted task still leads to its project, whose grain says 404.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._items: OrderedDict[tuple[UUID, str], tuple[UUID, UUID]] = OrderedDict()
        self._capacity = capacity

    def get(self, key: tuple[UUID, str]) -> tuple[UUID, UUID] | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[UUID, str], value: tuple[UUID, UUID]) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)


@dataclass(slots=True)
class AppContext:
    config: AppConfig
    engine: AsyncEngine
    redis: aioredis.Redis | None
    router: HostRouter
    task_refs: RefCache = field(default_factory=RefCache)


_context: AppContext | None = None


def install_context(ctx: AppContext | None) -> None:
    """Attach this process's resources (one API replica per process)."""
    global _context
    _context = ctx


async def get_ctx() -> AppContext:
    # Async on purpose: FastAPI runs sync dependencies in a thread pool.
    if _context is None:
        raise RuntimeError("the API context is not installed in this process")
    return _context


Ctx = Annotated[AppContext, Depends(get_ctx)]

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


async def current_principal(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    return decode_access_token(credentials.credentials, secret=ctx.config.jwt_secret)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
