"""The session's stack and its connections, shared by `tests/integration` and
`tests/e2e` so that one PostgreSQL, Redis and Ray serve every test of a run.

`tests/conftest.py` loads this module as a plugin; the fixtures live here and not
in a directory's conftest so that sibling test directories see the same
session-scoped instances instead of starting a second stack.

`TASKHIVE_TEST_DATABASE_URL` / `TASKHIVE_TEST_REDIS_URL` point at running servers
(the suite creates and drops its own database there); without them the suite
starts an embedded PostgreSQL and Redis in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import psutil
import pytest
from sqlalchemy.engine import make_url

from cluster.settings import Settings
from cluster.stack import Stack
from storage.embedded import EmbeddedPostgres, EmbeddedRedis
from storage.ports import free_port
from tests.integration.smtp_server import SmtpServer

#: The test stack signs tokens with this, so tests can craft their own.
JWT_SECRET = "integration-test-secret-0123456789abcdef"


def own_api_replicas() -> list[psutil.Process]:
    """This session's API replica processes: descendants of this process (the Ray
    driver that started the stack) only, since other Taskhive instances on the
    machine run replicas of the same name."""
    return _own_processes("ServeReplica:taskhive:api")


def own_realtime_replicas() -> list[psutil.Process]:
    """This session's replicas of the websocket deployment."""
    return _own_processes("ServeReplica:taskhive-realtime:realtime")


def _own_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if marker in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def own_replica_urls() -> list[str]:
    """`http://127.0.0.1:<port>` of this session's API replicas' HTTP listeners."""
    ports: set[int] = set()
    for proc in own_api_replicas():
        try:
            ports |= {c.laddr.port for c in proc.net_connections("tcp") if c.status == "LISTEN"}
        except psutil.Error:
            continue
    urls = []
    for port in sorted(ports):  # a replica also listens for Ray's own RPCs: keep HTTP ones
        url = f"http://127.0.0.1:{port}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                urls.append(url)
        except httpx.HTTPError:
            continue
    return urls


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("TASKHIVE_TEST_DATABASE_URL")
    if server is None:
        with EmbeddedPostgres(tmp_path_factory.mktemp("postgres")) as url:
            yield url
        return
    name = f"taskhive_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("TASKHIVE_TEST_REDIS_URL")
    if server is not None:
        yield server
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback that the stack sends notification email to."""
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(
    database_url: str,
    redis_url: str,
    smtp_server: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path_factory.mktemp("data"),
        port=free_port(),
        hosts=2,
        replicas=2,  # two API replicas behind HAProxy: fan-out must work across them
        realtime_replicas=2,  # the websocket sessions in a deployment of their own
        ws_queue_limit=64,  # small, so a slow websocket client is found quickly
        ws_replay_limit=100,
        ws_reauthorize_s=1.0,
        idle_seconds=600,
        jwt_secret=JWT_SECRET,
        smtp_url=smtp_server.url,
        digest_window_s=2.0,  # short, so digest tests wait seconds, not minutes
        email_retry_base_s=0.5,
        auth_cache_s=1.0,  # revocations reach the other replica within a second
        rate_limit_per_min=100_000,  # the suite never hits it; test_rate_limit uses its own
        # Above the 200 MB streaming test's file, so that one passes and the
        # over-limit test stays near it in size.
        attachment_max_bytes=201 * 1024 * 1024,
        webhook_allow_private=True,  # the test receiver listens on loopback
        webhook_retry_base_s=0.2,
        webhook_disable_after=4,
    )
    running = Stack(settings)
    try:
        running.start_storage()
        running.start_compute(num_cpus=2)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    return stack.url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as c:
        yield c


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for checking what really is in PostgreSQL."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()
