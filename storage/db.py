"""Database engine construction and URL handling."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """`postgresql://…` → `postgresql+asyncpg://…` (other drivers are not supported)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An asyncpg-backed engine. Statement timeout bounds every query at 10 s."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,  # a round trip per checkout; stale connections fail fast and are retried
        pool_recycle=1800,
        connect_args={"server_settings": {"statement_timeout": "10000"}, "timeout": 5},
    )
