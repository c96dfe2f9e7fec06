"""Helpers for the integration tests: users, projects, tasks and memberships made
through the API. The stack itself (one PostgreSQL, Redis and Ray for the whole
session) and the `client`/`db` fixtures are in `tests/stack_fixtures.py`, shared
with `tests/e2e`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from actors.router import HostRouter
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.context import AppContext
from serve_app.security import Principal, issue_access_token
from storage.db import create_engine
from storage.ports import free_port as free_port  # re-exported for the tests using it
from tests.stack_fixtures import JWT_SECRET


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

    @property
    def principal(self) -> Principal:
        return Principal(user_id=uuid.UUID(self.id), org_id=uuid.UUID(self.org_id))


@contextlib.asynccontextmanager
async def local_context(database_url: str, **config: Any) -> AsyncIterator[AppContext]:
    """A replica's context in this process, without hosts or Redis: for calling the
    access and filter helpers directly."""
    settings = AppConfig(database_url=database_url, redis_url=None, jwt_secret=JWT_SECRET, **config)
    engine = create_engine(database_url, pool_size=2)
    try:
        yield AppContext(
            config=settings,
            engine=engine,
            redis=None,
            router=HostRouter({}),
            auth=Authenticator(engine, secret=JWT_SECRET, ttl_s=settings.auth_cache_s),
        )
    finally:
        await engine.dispose()


def statements_sent(engine: Any) -> list[str]:
    """A list that collects every statement `engine` sends from now on."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return seen


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
