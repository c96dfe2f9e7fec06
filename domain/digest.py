"""When queued emails go out: digest batching and retry backoff, as pure rules.

Every notification a user should get by email is queued on its own row, first
due one digest window after it was queued. A user's pending rows are sent
together, as one email, as soon as the earliest of them is due — so everything
that arrives within the window of the first one shares its email.

When the SMTP server refuses or cannot be reached, every row of the batch is
retried after an exponential backoff. Rows queued meanwhile (never attempted)
join that retry instead of forcing an earlier one: a user in backoff is due when
the backoff ends, not when a new row's window ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Retry:
    """Exponential backoff: `base`, `2·base`, `4·base`, … capped at `cap`, up to
    `max_attempts` attempts in all."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 12

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt (1-based)."""
        exponent = min(max(attempts - 1, 0), 32)  # bounded: 2**32 · base is past any cap
        return min(self.base * (1 << exponent), self.cap)

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


@dataclass(frozen=True, slots=True)
class Queued:
    """What batching needs of one pending queue row."""

    attempts: int
    next_attempt_at: datetime


def first_due(window: timedelta, queued_at: datetime) -> datetime:
    return queued_at + window


def batch_due_at(pending: Sequence[Queued]) -> datetime | None:
    """When a user's pending rows should be sent together; None if there are none.

    In backoff (some row was attempted) that is when the backoff ends; otherwise
    when the earliest row's digest window ends.
    """
    if not pending:
        return None
    retried = [q.next_attempt_at for q in pending if q.attempts > 0]
    if retried:
        return max(retried)
    return min(q.next_attempt_at for q in pending)


def is_due(pending: Sequence[Queued], now: datetime) -> bool:
    due = batch_due_at(pending)
    return due is not None and due <= now


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to record on every row of a batch after one attempt to send it."""

    attempts: int
    next_attempt_at: datetime | None  # None: no further attempt
    gave_up: bool


def after_failure(pending: Sequence[Queued], now: datetime, retry: Retry) -> Outcome:
    """The batch failed: all its rows retry together, counted by its most-tried row."""
    attempts = max((q.attempts for q in pending), default=0) + 1
    if retry.gives_up(attempts):
        return Outcome(attempts=attempts, next_attempt_at=None, gave_up=True)
    return Outcome(attempts=attempts, next_attempt_at=now + retry.delay(attempts), gave_up=False)


def digest_subject(titles: Sequence[str]) -> str:
    """The subject of an email holding these notifications (newest last)."""
    if len(titles) == 1:
        return f"[Taskhive] {titles[0]}"
    return f"[Taskhive] {len(titles)} new notifications"
