"""Database engine construction and URL handling."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

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


def json_dumps(value: Any) -> str:
    """JSON for `json`/`jsonb` parameters, by orjson (several times faster than the
    standard library). Non-string keys become strings, as `json.dumps` makes them;
    unlike it, NaN and infinities are written as null (PostgreSQL would refuse them
    anyway). Integers beyond 64 bits, which orjson refuses, go through `json.dumps`."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


#: Twenty digits in a row may be an integer beyond 64 bits, which orjson would
#: read as a float: such documents are parsed by the standard library, exactly.
_LONG_NUMBER = re.compile(r"\d{20}")


def json_loads(text: str | bytes) -> Any:
    """`json`/`jsonb` values as read by asyncpg, parsed by orjson: the same objects
    `json.loads` gives, integers beyond 64 bits included (see `_LONG_NUMBER`)."""
    if _LONG_NUMBER.search(text if isinstance(text, str) else text.decode()):
        return json.loads(text)
    return orjson.loads(text)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An asyncpg-backed engine. Statement timeout bounds every query at 10 s.

    `json`/`jsonb` values are encoded and decoded with orjson (`json_dumps`,
    `json_loads`): the standard library's decoder was a few percent of an API
    replica's CPU.

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
        json_serializer=json_dumps,
        json_deserializer=json_loads,
    )
    telemetry.track_pool(engine.sync_engine.pool)
    return engine


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """`engine`'s pool with each statement committed on its own, outside any
    transaction: for reads that are one statement, or whose statements need not
    see one snapshot. Costs no round trip with asyncpg (the driver only skips its
    BEGIN and the ROLLBACK after), and the pool restores the isolation level when
    the connection returns."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """One of `engine`'s pooled connections as the asyncpg connection itself, outside
    any transaction (each statement commits on its own): for fixed-SQL reads on a
    request's hot path. asyncpg prepares each statement once per connection, and
    none of SQLAlchemy's per-statement work runs: a point read by primary key costs
    about a third of the CPU it takes through `Connection.execute`.

    Leave the connection as it was found (no SET, no open transaction). If anything
    goes wrong while it is out, the connection is closed instead of going back: a
    cancelled query may leave it mid-protocol.
    """
    raw = await engine.raw_connection()
    try:
        yield raw.driver_connection
    except BaseException:
        await greenlet_spawn(raw.invalidate)
        raise
    else:
        await greenlet_spawn(raw.close)  # back to the pool


async def transaction_driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, for fixed-SQL statements that belong to
    the transaction open on it (they commit or roll back with it).

    SQLAlchemy sends BEGIN with the first statement that goes through it, not when
    the transaction is opened: a statement sent here before that would commit on
    its own, so this refuses unless the transaction has begun on the server.
    """
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        raise RuntimeError(
            "no transaction has begun on this connection yet: send a statement through it first"
        )
    return driver
