"""The notification consumer of the outbox: events → inbox rows, queued emails, pushes.

For each event that may notify someone (`domain.notifications.NOTIFYING_EVENTS`)
it reconstructs the task as it was just before the event from the task's
earlier events (exact even when the events are replayed much later), resolves
@mentions among the organisation's members, asks the pure rules who is told of
what, applies each recipient's preferences, and in the relay's transaction
stores the notifications and queues their emails. After the commit it pushes
each new notification to Redis `user:{user_id}` as
`{"type": "notification", "notification": {…}}`.

Idempotent by `(project_id, version)`: a notification is unique per
`(user, project, version, kind)` and emails are queued only for notifications
that were new, so a replay adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain import notifications as rules
from domain.digest import Retry
from domain.notification_prefs import Channel
from domain.notifications import Notice, TaskSnapshot
from realtime.notify_email import transport_for
from realtime.notify_sender import EmailSender, MailSettings
from realtime.task_folds import TaskFolds
from storage import email_queue, notifications
from storage.outbox import StoredEvent

log = logging.getLogger(__name__)

CONSUMER_NAME = "notifications"

#: Run by the relay after its transaction committed (see `actors.outbox.Consumer`).
AfterCommit = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Everything notification delivery needs; picklable, handed to the relay actor."""

    mail_dir: Path
    public_url: str
    unsubscribe_secret: str
    smtp_url: str | None = None
    from_addr: str = "Taskhive <taskhive@localhost>"
    digest_window_s: float = 120.0
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    max_attempts: int = 12
    sender_poll_s: float = 0.5

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> NotificationConsumer:
        """The consumer factory the relay actor calls (`actors.outbox.ConsumerFactory`)."""
        return NotificationConsumer(self, engine, redis)


@dataclass(slots=True)
class _Decided:
    event: StoredEvent
    before: TaskSnapshot | None
    after: TaskSnapshot | None
    old_text: str
    new_text: str | None


def _notifying(e: StoredEvent) -> bool:
    # An imported event is history brought in, not news.
    return e.type in rules.NOTIFYING_EVENTS and not e.payload.get("imported")


class NotificationConsumer:
    name = CONSUMER_NAME
    #: A user expects an in-app notification within a second or two, not at once.
    linger_s = 0.5

    def __init__(
        self, config: NotifyConfig, engine: AsyncEngine, redis: aioredis.Redis | None
    ) -> None:
        self._config = config
        self._redis = redis
        self._window = timedelta(seconds=config.digest_window_s)
        self._folds: TaskFolds[TaskSnapshot] = TaskFolds(rules.apply_event)
        retry = Retry(
            base=timedelta(seconds=config.retry_base_s),
            cap=timedelta(seconds=config.retry_max_s),
            max_attempts=config.max_attempts,
        )
        self.sender = EmailSender(
            engine,
            transport_for(config.smtp_url, config.mail_dir),
            MailSettings(
                from_addr=config.from_addr,
                public_url=config.public_url,
                unsubscribe_secret=config.unsubscribe_secret,
                retry=retry,
                poll_s=config.sender_poll_s,
            ),
        )

    async def background(self) -> None:
        await self.sender.run()

    async def close(self) -> None:
        return None

    async def handle(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> AfterCommit | None:
        decided = await self._reconstruct(conn, events)
        if not decided:
            return None
        org_id = decided[0].event.org_id
        tokens: set[str] = set()
        for d in decided:
            if d.new_text is not None:
                tokens |= rules.mention_tokens(d.new_text) | rules.mention_tokens(d.old_text)
        directory = rules.mention_directory(
            await notifications.members_matching(conn, org_id, tokens)
        )
        planned: list[tuple[_Decided, Notice]] = []
        for d in decided:
            mentioned = (
                rules.new_mentions(d.old_text, d.new_text, directory)
                if d.new_text is not None
                else set()
            )
            e = d.event
            for notice in rules.notices_for(
                e.type, e.actor_id, e.payload, before=d.before, mentioned=mentioned
            ):
                planned.append((d, notice))
        if not planned:
            return None
        return await self._store(conn, org_id, planned)

    async def _reconstruct(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> list[_Decided]:
        """Each notifying event with the task just before and after it."""
        return [
            _Decided(
                f.event,
                f.before,
                f.after,
                rules.previous_text(f.event.type, f.event.payload, f.before),
                rules.event_text(f.event.type, f.event.payload),
            )
            for f in await self._folds.fold(conn, events, _notifying)
        ]

    async def _store(
        self, conn: AsyncConnection, org_id: UUID, planned: list[tuple[_Decided, Notice]]
    ) -> AfterCommit:
        recipients = {notice.user_id for _, notice in planned}
        actors = {d.event.actor_id for d, _ in planned}
        people = await notifications.users(conn, recipients | actors)
        prefs = await notifications.preferences(conn, recipients)
        rows: list[dict[str, Any]] = []
        channels: dict[tuple[UUID, UUID, int, str], Channel] = {}
        # Rows of one transaction would share `now()`; a microsecond apart they keep
        # event order in the inbox (newest first) instead of the order of random ids.
        now = datetime.now(UTC)
        for d, notice in planned:
            person = people.get(notice.user_id)
            channel = prefs[notice.user_id].channel(notice.kind)
            if person is None or not person.is_active or channel is Channel.OFF:
                continue
            e = d.event
            task = d.after or d.before
            actor = people.get(e.actor_id)
            actor_name = actor.name if actor else "Someone"
            changes: dict[str, Any] = e.payload.get("changes", {})
            title, summary = rules.describe(
                notice,
                task=task,
                actor_name=actor_name,
                changes=sorted(changes),
                status=changes.get("status"),
            )
            rows.append(
                {
                    "id": uuid4(),
                    "org_id": org_id,
                    "user_id": notice.user_id,
                    "project_id": e.project_id,
                    "version": e.version,
                    "task_id": e.task_id,
                    "actor_id": e.actor_id,
                    "kind": notice.kind.value,
                    "title": title[:300],
                    "summary": summary,
                    "created_at": now + timedelta(microseconds=len(rows)),
                    "payload": {
                        "event": e.type,
                        "event_at": e.created_at.isoformat(),
                        "task_key": task.key if task else None,
                        "task_title": task.title if task else None,
                        "actor_name": actor_name,
                        "changes": sorted(changes),
                    },
                }
            )
            channels[(notice.user_id, e.project_id, e.version, notice.kind.value)] = channel
        inserted = await notifications.insert_notifications(conn, rows)
        to_email = [
            (r.user_id, r.id, people[r.user_id].email)
            for r in inserted
            if channels[(r.user_id, r.project_id, r.version, r.kind)] is Channel.EMAIL
        ]
        await email_queue.enqueue(conn, to_email, due_at=now + self._window)
        pushes = [
            (
                f"user:{r.user_id}",
                orjson.dumps(
                    {
                        "type": "notification",
                        "notification": notifications.notification_json(r._mapping),
                    }
                ),
            )
            for r in inserted
        ]

        async def push() -> None:
            if self._redis is None or not pushes:
                return
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel_name, body in pushes:
                    pipe.publish(channel_name, body)
                await pipe.execute()

        return push
