"""The integration stack: one PostgreSQL database, one Redis, one Ray with the API
deployed, for the whole test session.

`TASKHIVE_TEST_DATABASE_URL` / `TASKHIVE_TEST_REDIS_URL` point at running servers
(the suite creates and drops its own database there); without them the suite
starts an embedded PostgreSQL and Redis in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from cluster.settings import Settings
from cluster.stack import Stack
from serve_app.security import Principal, issue_access_token
from storage.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.integration.smtp_server import SmtpServer

#: The test stack signs tokens with this, so tests can craft their own.
JWT_SECRET = "integration-test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


@dataclass
class User:
    id: str
    org_id: str
    email: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def signup(client: httpx.AsyncClient, **extra: Any) -> User:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "name": "Test User", "password": "correct horse", **extra}
    r = await client.post("/api/v1/auth/signup", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    return User(
        data["user"]["id"], data["org"]["id"], email, data["access_token"], data["refresh_token"]
    )


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> User:
    return await signup(client, org_name="Acme")


@pytest.fixture
async def mallory(client: httpx.AsyncClient) -> User:
    """A user of another organisation."""
    return await signup(client, org_name="Evil Corp")


async def create_project(client: httpx.AsyncClient, user: User, **body: Any) -> dict[str, Any]:
    payload = {"name": f"Project {uuid.uuid4().hex[:6]}", **body}
    r = await client.post("/api/v1/projects", json=payload, headers=user.headers)
    assert r.status_code == 201, r.text
    project: dict[str, Any] = r.json()
    return project


async def create_task(
    client: httpx.AsyncClient, user: User, project_id: str, **body: Any
) -> dict[str, Any]:
    payload = {"project_id": project_id, "title": "A task", **body}
    r = await client.post("/api/v1/tasks", json=payload, headers=user.headers)
    assert r.status_code == 201, r.text
    task: dict[str, Any] = r.json()
    return task


@pytest.fixture
async def project(client: httpx.AsyncClient, alice: User) -> dict[str, Any]:
    return await create_project(client, alice)


async def member_of(client: httpx.AsyncClient, db: Any, org_user: User, name: str) -> User:
    """A new user who is also a member of `org_user`'s organisation, with a token for it.

    There is no invitation flow yet, so the membership is written directly.
    """
    user = await signup(client, name=name)
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')",
        uuid.UUID(org_user.org_id),
        uuid.UUID(user.id),
    )
    principal = Principal(user_id=uuid.UUID(user.id), org_id=uuid.UUID(org_user.org_id))
    token = issue_access_token(principal, secret=JWT_SECRET, ttl_s=3600)
    return User(user.id, org_user.org_id, user.email, token, user.refresh_token)
