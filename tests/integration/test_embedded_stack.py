"""Embedded PostgreSQL and Redis: data survives a stop/start and no process outlives stop()."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from storage.embedded import EmbeddedPostgres, EmbeddedRedis

pytestmark = pytest.mark.timeout(180)


def _procs_in(directory: Path, name: str) -> list[psutil.Process]:
    """Live processes called ``name`` tied to ``directory`` by cwd or command line."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.name() != name or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if Path(proc.cwd()) == directory or any(
                str(directory) in arg for arg in proc.cmdline()
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _pg_execute(url: str, *statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _pg_fetch(url: str, query: str) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(run())


def test_postgres_data_survives_restart_and_stop_leaves_no_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    pg = EmbeddedPostgres(data_dir)

    url = pg.start()
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    assert url.endswith("/taskhive")
    assert pg.start() == url == pg.url
    assert _procs_in(data_dir / "pgdata", "postgres")
    _pg_execute(
        url,
        "CREATE TABLE note (id int PRIMARY KEY, body text NOT NULL)",
        "INSERT INTO note VALUES (1, 'héllo')",
    )
    pg.stop()
    pg.stop()
    assert _procs_in(data_dir / "pgdata", "postgres") == []
    with pytest.raises(RuntimeError):
        _ = pg.url

    with EmbeddedPostgres(data_dir) as url2:
        assert _pg_fetch(url2, "SELECT id, body FROM note") == [(1, "héllo")]
        assert _pg_fetch(url2, "SELECT current_database()") == [("taskhive",)]

    assert _procs_in(data_dir / "pgdata", "postgres") == []


def test_postgres_recovers_from_crash_with_stale_pid_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    pgdata = data_dir / "pgdata"
    crashed = EmbeddedPostgres(data_dir)
    url = crashed.start()
    _pg_execute(url, "CREATE TABLE t (v int)", "INSERT INTO t VALUES (42)")

    postmaster = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _procs_in(pgdata, "postgres") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _procs_in(pgdata, "postgres") == []
    crashed.stop()  # reaps the dead server, must not raise

    # After a crash the pid in postmaster.pid may belong to an unrelated live process.
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    lines[0] = str(os.getpid())
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")

    pg = EmbeddedPostgres(data_dir)
    try:
        url = pg.start()
        assert _pg_fetch(url, "SELECT v FROM t") == [(42,)]
    finally:
        pg.stop()
    assert _procs_in(pgdata, "postgres") == []


def test_postgres_takes_over_server_left_by_a_crashed_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    first = EmbeddedPostgres(data_dir)
    url = first.start()

    # A second handle (as after the first process died without stop()) reuses the server.
    second = EmbeddedPostgres(data_dir)
    try:
        assert second.start() == url
    finally:
        second.stop()
    assert _procs_in(data_dir / "pgdata", "postgres") == []
    first.stop()


def test_redis_data_survives_restart_and_stop_leaves_no_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    server = EmbeddedRedis(data_dir)

    url = server.start()
    assert url.startswith("redis://127.0.0.1:")
    assert url.endswith("/0")
    assert server.start() == url == server.url
    assert _procs_in(data_dir, "redis-server")
    client = redis.Redis.from_url(url)
    try:
        assert client.set("task:1", "héllo")
    finally:
        client.close()
    server.stop()
    server.stop()
    assert _procs_in(data_dir, "redis-server") == []
    assert (data_dir / "appendonly.aof").stat().st_size > 0
    assert (data_dir / "dump.rdb").exists()

    with EmbeddedRedis(data_dir) as url2:
        client = redis.Redis.from_url(url2)
        try:
            assert client.get("task:1") == "héllo".encode()
        finally:
            client.close()

    assert _procs_in(data_dir, "redis-server") == []


def test_redis_restarts_on_requested_port_after_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    crashed = EmbeddedRedis(data_dir)
    url = crashed.start()
    client = redis.Redis.from_url(url)
    try:
        # Redis writes the AOF before replying, so the SET survives a SIGKILL.
        client.set("k", "v")
    finally:
        client.close()
    for proc in _procs_in(data_dir, "redis-server"):
        proc.kill()
    crashed.stop()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = EmbeddedRedis(data_dir, port=port)
    try:
        url = server.start()
        assert url == f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
            assert client.get("k") == b"v"
        finally:
            client.close()
    finally:
        server.stop()
    assert _procs_in(data_dir, "redis-server") == []
