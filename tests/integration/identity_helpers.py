"""Helpers for the identity tests: users with a given organisation role, and waiting
for a change to reach the replica that did not make it (`auth_cache_s`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from serve_app.security import Principal, issue_access_token
from tests.integration.conftest import User, signup
from tests.stack_fixtures import JWT_SECRET


async def with_role(client: httpx.AsyncClient, db: Any, org_user: User, role: str) -> User:
    """A new user who is a `role` of `org_user`'s organisation, with a token for it."""
    user = await signup(client, name=f"{role.title()} User")
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)",
        uuid.UUID(org_user.org_id),
        uuid.UUID(user.id),
        role,
    )
    principal = Principal(user_id=uuid.UUID(user.id), org_id=uuid.UUID(org_user.org_id))
    token = issue_access_token(principal, secret=JWT_SECRET, ttl_s=3600)
    return User(user.id, org_user.org_id, user.email, token, user.refresh_token)


async def eventually(
    probe: Callable[[], Awaitable[httpx.Response]], status: int, timeout_s: float = 10.0
) -> httpx.Response:
    """Repeat `probe` until it answers `status`: a change made through one replica
    reaches the other within `auth_cache_s` (1 s in the test stack)."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = await probe()
        if r.status_code == status or time.monotonic() > deadline:
            assert r.status_code == status, r.text
            return r
        await asyncio.sleep(0.2)
