"""Helpers of the notification tests: polling with a deadline, org members, the inbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any, TypeVar

import httpx

from tests.integration.conftest import User

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], *, timeout: float = 20.0
) -> T:
    """Poll `probe` until `ok(result)`; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last: {result!r}")
        await asyncio.sleep(0.1)


async def inbox(client: httpx.AsyncClient, user: User, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/notifications", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def consumed(db: Any, project_id: str) -> None:
    """Wait until the notification consumer has handled every event of the project."""
    pid = uuid.UUID(project_id)

    async def lag() -> int:
        version = await db.fetchval("SELECT version FROM projects WHERE id = $1", pid)
        offset = await db.fetchval(
            "SELECT version FROM consumer_offsets WHERE consumer = 'notifications'"
            " AND project_id = $1",
            pid,
        )
        return int(version) - int(offset or 0)

    await eventually(lag, lambda n: n == 0)


async def all_mail_sent(db: Any, user: User, *, expected_rows: int) -> list[Any]:
    """Wait until `expected_rows` queue rows of the user exist and all are sent."""

    async def rows() -> list[Any]:
        return list(
            await db.fetch(
                "SELECT sent_at, batch_id, attempts, last_error FROM email_queue"
                " WHERE user_id = $1",
                uuid.UUID(user.id),
            )
        )

    return await eventually(
        rows, lambda rs: len(rs) == expected_rows and all(r["sent_at"] for r in rs)
    )


def body_text(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content: str = part.get_content()
    return content
