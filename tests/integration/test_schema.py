"""The migrated database matches the SQLAlchemy tables, and hot queries use indexes."""

from __future__ import annotations

import re
import uuid

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cluster.stack import Stack
from storage.db import create_engine
from storage.migrate import include_name
from storage.tables import metadata


async def test_migrations_match_the_tables(stack: Stack, database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": include_name}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_tasks_are_hash_partitioned(stack: Stack, db: asyncpg.Connection) -> None:
    partitions = await db.fetchval(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'tasks'::regclass"
    )
    strategy = await db.fetchval(
        "SELECT partstrat::text FROM pg_partitioned_table WHERE partrelid = 'tasks'::regclass"
    )
    assert (partitions, strategy) == (16, "h")


async def test_task_lookup_by_key_uses_its_index(stack: Stack, db: asyncpg.Connection) -> None:
    await db.execute("SET enable_seqscan = off")
    plan = await db.fetchval(
        "EXPLAIN (FORMAT TEXT) SELECT project_id, id FROM task_lookup WHERE org_id = $1 AND key = $2",
        uuid.uuid4(),
        "WEB-1",
    )
    assert "task_lookup_org_key_key" in plan


async def test_project_tasks_load_prunes_to_one_partition(
    stack: Stack, db: asyncpg.Connection
) -> None:
    # Tiny test partitions make a sequential scan the cheaper plan; what must hold
    # is that pruning leaves one partition and an index can serve the load.
    await db.execute("SET enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in await db.fetch(
            "EXPLAIN SELECT * FROM tasks WHERE project_id = $1 ORDER BY number", uuid.uuid4()
        )
    )
    scanned = set(re.findall(r" on (tasks_p\d+)", plan))
    assert len(scanned) == 1, plan
    assert "Index" in plan, plan


async def test_a_task_write_updates_no_index(stack: Stack, db: asyncpg.Connection) -> None:
    # What most writes change (status, rank, title, version, the time) is in no
    # index, and each page keeps room: the update is heap-only (HOT), so none of
    # the table's indexes gets an entry (and none of their pages is logged).
    project_id, task_id = uuid.uuid4(), uuid.uuid4()
    transaction = db.transaction()
    await transaction.start()
    try:
        await db.execute(
            "INSERT INTO tasks (project_id, id, org_id, number, key, title, status, "
            "reporter_id, created_at, updated_at, version) "
            "VALUES ($1, $2, $3, 1, 'HOT-1', 'Before', 'todo', $3, now(), now(), 1)",
            project_id,
            task_id,
            uuid.uuid4(),
        )
        partition = await db.fetchval(
            "SELECT tableoid::regclass::text FROM tasks WHERE project_id = $1 AND id = $2",
            project_id,
            task_id,
        )
        options = await db.fetchval(
            "SELECT reloptions FROM pg_class WHERE oid = $1::regclass", partition
        )
        await db.execute(
            "UPDATE tasks SET status = 'doing', rank = 'b', title = 'After', version = 2, "
            "updated_at = now() WHERE project_id = $1 AND id = $2",
            project_id,
            task_id,
        )
        updated, hot = await db.fetchrow(
            "SELECT pg_stat_get_xact_tuples_updated($1::regclass), "
            "pg_stat_get_xact_tuples_hot_updated($1::regclass)",
            partition,
        )
    finally:
        await transaction.rollback()
    assert options == ["fillfactor=80"]
    assert (updated, hot) == (1, 1)
