"""The email sender: turns due queue rows into (digest) emails, with retries.

Each pass looks for users with due rows, then per user, in one transaction:
lock the user's pending rows (`FOR UPDATE SKIP LOCKED`, so concurrent senders
split the work), check the batch is due (`domain.digest`), render one email for
all of them, hand it to the transport, and only once the server accepted it mark
the rows sent. A refused or unreachable server leaves the rows pending with an
exponential backoff, so an SMTP outage loses nothing.

Delivery is at least once: a crash after the server accepted a message and
before the commit sends that digest again on restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from domain import digest
from domain.notification_prefs import Channel, Preferences, unsubscribe_token
from domain.notifications import Kind
from realtime.notify_email import DeliveryError, Item, Transport, render
from storage import email_queue, notifications
from storage.email_queue import PendingMail

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailSettings:
    from_addr: str
    public_url: str
    unsubscribe_secret: str
    retry: digest.Retry = field(default_factory=digest.Retry)
    poll_s: float = 1.0
    users_per_pass: int = 50


class EmailSender:
    def __init__(self, engine: AsyncEngine, transport: Transport, settings: MailSettings) -> None:
        self._engine = engine
        self._transport = transport
        self._settings = settings

    def unsubscribe_url(self, user_id: UUID) -> str:
        token = unsubscribe_token(user_id, secret=self._settings.unsubscribe_secret)
        base = self._settings.public_url.rstrip("/")
        return f"{base}/api/v1/notifications/unsubscribe?token={token}"

    def _item(self, mail: PendingMail) -> Item:
        key = mail.payload.get("task_key")
        url = f"{self._settings.public_url.rstrip('/')}/tasks/{key}" if key else None
        return Item(title=mail.title, summary=mail.summary, url=url)

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass; returns how many emails were accepted by the transport."""
        now = now or datetime.now(UTC)
        async with self._engine.connect() as conn:
            users = await email_queue.candidate_users(
                conn, now=now, limit=self._settings.users_per_pass
            )
        sent = 0
        for user_id in users:
            sent += await self._send_to(user_id, now)
        return sent

    async def _send_to(self, user_id: UUID, now: datetime) -> int:
        async with self._engine.begin() as conn:
            pending = await email_queue.lock_pending(conn, user_id)
            if not digest.is_due([p.queued for p in pending], now):
                return 0
            prefs = (await notifications.preferences(conn, [user_id]))[user_id]
            # Preferences may have changed since the rows were queued.
            wanted = [p for p in pending if _emailed(prefs, p.kind)]
            dropped = [p.id for p in pending if p not in wanted]
            if dropped:
                await email_queue.drop(conn, dropped, reason="email turned off", now=now)
            if not wanted:
                return 0
            message = render(
                to_addr=wanted[-1].to_addr,
                from_addr=self._settings.from_addr,
                items=[self._item(p) for p in wanted],
                unsubscribe_url=self.unsubscribe_url(user_id),
            )
            ids = [p.id for p in wanted]
            try:
                await self._transport.send(message)
            except DeliveryError as exc:
                outcome = digest.after_failure(
                    [p.queued for p in wanted], now, self._settings.retry
                )
                await email_queue.mark_failed(conn, ids, outcome, error=str(exc), now=now)
                log.warning(
                    "email to user %s failed (attempt %d%s): %s",
                    user_id,
                    outcome.attempts,
                    ", giving up" if outcome.gave_up else "",
                    exc,
                )
                return 0
            await email_queue.mark_sent(conn, ids, now=now)
            return 1

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("email sender pass failed; retrying")
            await asyncio.sleep(self._settings.poll_s)


def _emailed(prefs: Preferences, kind: str) -> bool:
    try:
        return prefs.channel(Kind(kind)) is Channel.EMAIL
    except ValueError:
        return True  # a kind newer than this code: keep what was queued
