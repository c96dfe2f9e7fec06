"""Webhook delivery: a consumer of the outbox that queues deliveries, and a sender
that makes them.

The consumer runs in the relay's transaction: for each committed event, every
active hook of the organisation or the project that takes its type gets a
delivery row holding the payload (the event and the task as of that event).
Queuing is idempotent by `(hook, project, version)`, so replays add nothing.

The sender claims due deliveries with a lease, POSTs them signed (see
`domain.webhooks`), and records the outcome: 2xx is delivered; anything else is
retried with exponential backoff for a day, after which the delivery fails. A
hook whose deliveries keep failing is switched off and its creator told in
their inbox. Receivers must deduplicate by the payload's `id` (also the
`X-Taskhive-Delivery` header): delivery is at least once, and retries of
different events may arrive out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import orjson
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain import webhooks as rules
from domain.task_fold import fold_one
from realtime.pushes import publish_all
from realtime.task_folds import TaskFolds
from storage import notifications
from storage import webhooks as store
from storage.outbox import StoredEvent

log = logging.getLogger(__name__)

CONSUMER_NAME = "webhooks"
AfterCommit = Callable[[], Awaitable[None]]
USER_AGENT = "Taskhive-Webhooks/1"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Picklable settings handed to the relay actor; calling it makes the consumer."""

    allow_private: bool = False
    timeout_s: float = 10.0
    retry: rules.RetryPolicy = field(default_factory=rules.RetryPolicy)
    lease_s: float = 60.0
    poll_s: float = 1.0
    batch: int = 50
    concurrency: int = 16

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> WebhookConsumer:
        return WebhookConsumer(self, engine, redis)


def payload_for(
    event: StoredEvent, task: dict[str, Any] | None, delivery_id: UUID
) -> dict[str, Any]:
    """What a receiver gets for one event."""
    return {
        "id": str(delivery_id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "organization_id": str(event.org_id),
        "project_id": str(event.project_id),
        "version": event.version,
        "actor_id": str(event.actor_id),
        "task_id": str(event.task_id) if event.task_id else None,
        "data": event.payload,
        "task": task,
    }


def ping_payload(hook: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid4()),
        "type": rules.PING,
        "created_at": now.isoformat(),
        "organization_id": str(hook.org_id),
        "project_id": str(hook.project_id) if hook.project_id else None,
        "webhook_id": str(hook.id),
        "data": {},
        "task": None,
    }


class WebhookConsumer:
    name = CONSUMER_NAME
    #: Deliveries go out over the network with retries; half a second is noise.
    linger_s = 0.5

    def __init__(
        self, config: WebhookConfig, engine: AsyncEngine, redis: aioredis.Redis | None
    ) -> None:
        self.sender = WebhookSender(config, engine, redis)
        self._folds: TaskFolds[dict[str, Any]] = TaskFolds(fold_one)

    async def interested(self, conn: AsyncConnection, projects: Mapping[UUID, UUID]) -> set[UUID]:
        """The projects (id → organisation) some hook hears about: `handle` does
        nothing for the others, and most projects have none."""
        return await store.projects_with_hooks(conn, projects)

    async def handle(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> AfterCommit | None:
        if not events:
            return None
        first = events[0]
        hooks = await store.hooks_for(conn, org_id=first.org_id, project_id=first.project_id)
        if not hooks:
            return None

        def heard(event: StoredEvent) -> bool:
            return any(rules.wants(h.events, event.type) for h in hooks)

        # The task as of each event (folded from its events; exact under replays).
        tasks = {f.event.version: f.after for f in await self._folds.fold(conn, events, heard)}
        rows: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for event in events:
            takers = [h for h in hooks if rules.wants(h.events, event.type)]
            task = tasks.get(event.version)
            for hook in takers:
                delivery_id = uuid4()
                rows.append(
                    {
                        "id": delivery_id,
                        "webhook_id": hook.id,
                        "org_id": event.org_id,
                        "project_id": event.project_id,
                        "version": event.version,
                        "event_type": event.type,
                        "payload": payload_for(event, task, delivery_id),
                        "next_attempt_at": now,
                    }
                )
        if not await store.enqueue(conn, rows):
            return None

        async def wake() -> None:
            self.sender.wake.set()

        return wake

    async def background(self) -> None:
        await self.sender.run()

    async def close(self) -> None:
        await self.sender.close()


class WebhookSender:
    def __init__(
        self, config: WebhookConfig, engine: AsyncEngine, redis: aioredis.Redis | None
    ) -> None:
        self._config = config
        self._engine = engine
        self._redis = redis
        self._client = httpx.AsyncClient(
            timeout=config.timeout_s,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self.wake = asyncio.Event()

    async def run_once(self) -> int:
        """Claim and make one batch of due deliveries; how many were claimed."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            claimed = await store.claim_due(
                conn,
                now=now,
                lease_until=now + timedelta(seconds=self._config.lease_s),
                limit=self._config.batch,
            )
        if claimed:
            gate = asyncio.Semaphore(self._config.concurrency)

            async def one(delivery: store.Claimed) -> None:
                async with gate:
                    await self._deliver(delivery)

            await asyncio.gather(*(one(c) for c in claimed))
        return len(claimed)

    async def _deliver(self, delivery: store.Claimed) -> None:
        body = orjson.dumps(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "X-Taskhive-Event": delivery.event_type,
            "X-Taskhive-Delivery": str(delivery.id),
            rules.SIGNATURE_HEADER: rules.sign(delivery.secret, int(time.time()), body),
        }
        status: int | None = None
        error = ""
        try:
            await self._check_target(delivery.url)
            response = await self._client.post(delivery.url, content=body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                async with self._engine.begin() as conn:
                    await store.mark_delivered(
                        conn, delivery, status_code=status, now=datetime.now(UTC)
                    )
                return
            error = f"HTTP {status}"
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await self._failed(delivery, status, error)

    async def _check_target(self, url: str) -> None:
        """Refuse a name that resolves to a private address, unless allowed."""
        if self._config.allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            if rules.is_private_host(str(info[4][0])):
                raise ValueError(f"{host} resolves to a private address")

    async def _failed(self, delivery: store.Claimed, status: int | None, error: str) -> None:
        now = datetime.now(UTC)
        policy = self._config.retry
        retry_at = policy.next_attempt(delivery.attempts, delivery.created_at, now)
        pushes: list[tuple[str, bytes]] = []
        async with self._engine.begin() as conn:
            failures = await store.mark_failed(
                conn, delivery, status_code=status, error=error, retry_at=retry_at, now=now
            )
            if failures >= policy.disable_after:
                reason = f"{failures} deliveries in a row failed; the last: {error}"
                hook = await store.disable(conn, delivery.webhook_id, reason=reason)
                if hook is not None:
                    pushes = await _tell_creator(conn, hook, reason, now)
        log.info(
            "webhook delivery %s to %s failed (attempt %d, %s)%s",
            delivery.id,
            delivery.url,
            delivery.attempts,
            error,
            "" if retry_at else "; giving up",
        )
        await publish_all(self._redis, pushes)

    async def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("webhook sender pass failed; retrying")
                claimed = 0
            if claimed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._config.poll_s)

    async def close(self) -> None:
        await self._client.aclose()


async def _tell_creator(
    conn: AsyncConnection, hook: Any, reason: str, now: datetime
) -> list[tuple[str, bytes]]:
    """An inbox notification to whoever created a hook that was switched off."""
    if hook.created_by is None:
        return []
    rows = await notifications.insert_notifications(
        conn,
        [
            {
                "id": uuid4(),
                "org_id": hook.org_id,
                "user_id": hook.created_by,
                # Notifications are keyed by a project and a version; an
                # organisation-wide hook stands in for its own project.
                "project_id": hook.project_id or hook.id,
                "version": int(now.timestamp() * 1000),
                "task_id": None,
                "actor_id": None,
                "kind": "webhook_disabled",
                "title": f"Webhook to {hook.url} was switched off"[:300],
                "summary": reason,
                "created_at": now,
                "payload": {"webhook_id": str(hook.id), "url": hook.url},
            }
        ],
    )
    return [
        (
            f"user:{r.user_id}",
            orjson.dumps(
                {
                    "type": "notification",
                    "notification": notifications.notification_json(r._mapping),
                }
            ),
        )
        for r in rows
    ]
