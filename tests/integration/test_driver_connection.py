"""`storage.db.driver_connection`: a pooled connection lent as the asyncpg
connection itself, returned to the pool after use and closed, not returned, when
anything went wrong while it was out; `transaction_driver`: the asyncpg
connection under an open transaction, whose statements belong to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine, driver_connection, transaction_driver

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_the_connection_goes_back_to_the_pool_outside_any_transaction(
    engine: AsyncEngine,
) -> None:
    pid = await _backend_pid(engine)
    async with driver_connection(engine) as conn:
        assert isinstance(conn, asyncpg.Connection)
        assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # the pool's connection
        assert not conn.is_in_transaction()
        assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # The same connection serves the engine's next checkout.
    assert await _backend_pid(engine) == pid


async def test_a_failed_statement_closes_the_connection_instead_of_returning_it(
    engine: AsyncEngine,
) -> None:
    pid = await _backend_pid(engine)
    with pytest.raises(asyncpg.UndefinedTableError):
        async with driver_connection(engine) as conn:
            await conn.fetchrow("SELECT * FROM no_such_table")
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _backend_pid(engine) != pid  # a new backend


async def test_a_cancelled_query_does_not_hand_a_busy_connection_to_the_next_caller(
    engine: AsyncEngine,
) -> None:
    async def slow() -> None:
        async with driver_connection(engine) as conn:
            await conn.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The pool's one connection is usable at once by the next caller.
    async with driver_connection(engine) as conn:
        assert await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=2) == 1


async def test_a_transaction_s_driver_statements_commit_and_roll_back_with_it(
    engine: AsyncEngine,
) -> None:
    marker = 424242
    with pytest.raises(RuntimeError, match="abandoned"):
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))  # BEGIN reaches the server
            driver = await transaction_driver(conn)
            await driver.execute("CREATE TABLE IF NOT EXISTS driver_probe (n int)")
            await driver.execute("INSERT INTO driver_probe VALUES ($1)", marker)
            raise RuntimeError("abandoned")
    async with engine.connect() as conn:
        exists = (await conn.execute(text("SELECT to_regclass('driver_probe')"))).scalar()
    assert exists is None  # the table and its row went with the rollback


async def test_a_transaction_that_has_not_begun_on_the_server_is_refused(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        # SQLAlchemy sends BEGIN with the first statement: none went through yet.
        with pytest.raises(RuntimeError, match="no transaction has begun"):
            await transaction_driver(conn)
