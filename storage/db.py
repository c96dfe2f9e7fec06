"""Database engine construction and URL handling."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage import telemetry
from storage.breaker import breaker

#: Client-side limits: a server that stops answering (not only one that refuses)
#: must not hold a request longer than these.
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0


def async_url(url: str) -> str:
    """`postgresql://…` → `postgresql+asyncpg://…` (other drivers are not supported)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An asyncpg-backed engine. Statement timeout bounds every query at 10 s.

    New connections go through this process's `postgresql` breaker: while
    PostgreSQL is down, checkouts fail at once with `DependencyUnavailable`
    (503) instead of each waiting for its own connect timeout.
    """
    parsed = make_url(async_url(url))
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    gate = breaker("postgresql", f"{parsed.host}:{parsed.port}")

    async def connect() -> Any:
        return await gate.call(
            asyncpg.connect(
                dsn,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
                server_settings={"statement_timeout": "10000"},
            ),
            timeout_s=CONNECT_TIMEOUT_S + 1,
        )

    engine = create_async_engine(
        async_url(url),
        async_creator=connect,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=CONNECT_TIMEOUT_S,
        pool_pre_ping=False,  # a round trip per checkout; stale connections fail fast and are retried
        pool_recycle=1800,
    )
    telemetry.track_pool(engine.sync_engine.pool)
    return engine
