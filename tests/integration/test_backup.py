"""`taskhive backup` then `taskhive restore` into an empty database and blob store
gives back the same projects, tasks, events and blob bytes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from storage.backup import read_manifest
from storage.blobs import LocalBlobStore
from tests.integration.conftest import User, create_project, create_task

pytestmark = pytest.mark.slow


def taskhive(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKHIVE_")}
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    """A new, empty database on the suite's server (dropped afterwards)."""
    name = f"taskhive_restore_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def snapshot(url: str, project_id: uuid.UUID) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "project": dict(
                await conn.fetchrow(
                    "SELECT key, name, version FROM projects WHERE id = $1", project_id
                )
            ),
            "tasks": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT id, number, title, status, version FROM tasks"
                    " WHERE project_id = $1 ORDER BY number",
                    project_id,
                )
            ],
            "events": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT version, type, payload::text FROM events"
                    " WHERE project_id = $1 ORDER BY version",
                    project_id,
                )
            ],
            "lookup": await conn.fetchval(
                "SELECT count(*) FROM task_lookup WHERE project_id = $1", project_id
            ),
        }
    finally:
        await conn.close()


async def test_backup_and_restore_round_trip(
    client: httpx.AsyncClient,
    alice: User,
    database_url: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    project = await create_project(client, alice)
    for i in range(5):
        await create_task(client, alice, project["id"], title=f"kept {i}", description="é ✓")
    pid = uuid.UUID(project["id"])

    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    blobs = LocalBlobStore(source_dir / "blobs")
    payloads = {
        f"org/{uuid.uuid4()}/a.bin": os.urandom(300_000),
        f"org/{uuid.uuid4()}/nested/b.txt": b"hello",
    }
    for key, data in payloads.items():
        await blobs.put(key, data, "application/octet-stream")
    # An upload in progress is not part of the backup.
    (source_dir / "blobs" / ".uploads" / "half").write_bytes(b"partial")

    before = await snapshot(database_url, pid)
    archive = tmp_path / "taskhive.tar"
    done = await asyncio.to_thread(
        taskhive, "backup", str(archive), "--database-url", database_url, data_dir=source_dir
    )
    assert done.returncode == 0, done.stderr
    manifest = read_manifest(archive)
    assert manifest["blobs"] == 2
    assert manifest["schema_revisions"]

    done = await asyncio.to_thread(
        taskhive, "restore", str(archive), "--database-url", empty_database, data_dir=target_dir
    )
    assert done.returncode == 0, done.stderr + done.stdout

    assert await snapshot(empty_database, pid) == before
    restored = LocalBlobStore(target_dir / "blobs")
    for key, data in payloads.items():
        assert await restored.read(key, max_bytes=1 << 30) == data
    assert not (target_dir / "blobs" / ".uploads" / "half").exists()

    # Restoring over data needs --force.
    again = await asyncio.to_thread(
        taskhive, "restore", str(archive), "--database-url", empty_database, data_dir=target_dir
    )
    assert again.returncode == 2
    assert "--force" in again.stderr


async def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    import tarfile

    with tarfile.open(bogus, "w") as tar:
        tar.add(__file__, arcname="something.py")
    done = await asyncio.to_thread(taskhive, "restore", str(bogus), data_dir=tmp_path / "d")
    assert done.returncode == 1
    assert "not a Taskhive backup" in done.stderr
