"""Digest batching, retry backoff, preferences and unsubscribe tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain import digest
from domain.digest import Queued, Retry
from domain.errors import InvalidInput
from domain.notification_prefs import (
    Channel,
    Preferences,
    changed_preferences,
    preferences_from_stored,
    unsubscribe_token,
    verify_unsubscribe_token,
)
from domain.notifications import Kind

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=2)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_rows_within_the_first_window_share_one_batch() -> None:
    pending = [
        Queued(0, digest.first_due(WINDOW, s(0))),
        Queued(0, digest.first_due(WINDOW, s(90))),
    ]
    assert digest.batch_due_at(pending) == s(120)
    assert not digest.is_due(pending, s(119))
    assert digest.is_due(pending, s(120))  # both go out together at the first row's time


def test_nothing_pending_is_never_due() -> None:
    assert digest.batch_due_at([]) is None
    assert not digest.is_due([], s(10_000))


def test_backoff_is_exponential_and_capped() -> None:
    retry = Retry(base=timedelta(seconds=30), cap=timedelta(minutes=5), max_attempts=5)
    delays = [retry.delay(n).total_seconds() for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 300, 300]
    assert not retry.gives_up(4) and retry.gives_up(5)


def test_a_failed_batch_retries_together_and_new_rows_wait_for_it() -> None:
    retry = Retry(base=timedelta(seconds=30), max_attempts=3)
    batch = [Queued(0, s(120)), Queued(0, s(130))]
    outcome = digest.after_failure(batch, s(130), retry)
    assert outcome == digest.Outcome(attempts=1, next_attempt_at=s(160), gave_up=False)
    # A row queued during the backoff is due at s(150) on its own, yet the user
    # is in backoff: the batch is due when the backoff ends.
    pending = [Queued(1, s(160)), Queued(1, s(160)), Queued(0, s(150))]
    assert digest.batch_due_at(pending) == s(160)
    second = digest.after_failure(pending, s(160), retry)
    assert second.attempts == 2 and second.next_attempt_at == s(220)
    third = digest.after_failure([Queued(2, s(220))], s(220), retry)
    assert third.gave_up and third.next_attempt_at is None


def test_digest_subject() -> None:
    assert digest.digest_subject(["WEB-1: A"]) == "[Taskhive] WEB-1: A"
    assert digest.digest_subject(["a", "b", "c"]) == "[Taskhive] 3 new notifications"


def test_default_channels_and_the_email_switch() -> None:
    prefs = Preferences()
    assert prefs.channel(Kind.ASSIGNED) is Channel.EMAIL
    assert prefs.channel(Kind.UPDATED) is Channel.IN_APP
    off = Preferences(email_enabled=False, channels={Kind.DELETED: Channel.OFF})
    assert off.channel(Kind.ASSIGNED) is Channel.IN_APP
    assert off.channel(Kind.DELETED) is Channel.OFF


def test_changing_preferences_validates_and_merges() -> None:
    prefs = changed_preferences(Preferences(), email_enabled=None, channels={"mentioned": "off"})
    prefs = changed_preferences(prefs, email_enabled=False, channels={"assigned": "in_app"})
    assert prefs.as_json()["channels"]["mentioned"] == "off"
    assert prefs.as_json()["channels"]["assigned"] == "in_app"
    assert prefs.as_json()["email_enabled"] is False
    with pytest.raises(InvalidInput, match="unknown kind"):
        changed_preferences(prefs, email_enabled=None, channels={"liked": "off"})
    with pytest.raises(InvalidInput, match="must be one of"):
        changed_preferences(prefs, email_enabled=None, channels={"assigned": "sms"})


def test_stored_preferences_ignore_what_this_version_does_not_know() -> None:
    prefs = preferences_from_stored(True, {"assigned": "off", "liked": "email", "updated": "x"})
    assert prefs.channels == {Kind.ASSIGNED: Channel.OFF}


def test_unsubscribe_token_round_trip_and_forgery() -> None:
    user = uuid.uuid4()
    token = unsubscribe_token(user, secret="s3cret")
    assert verify_unsubscribe_token(token, secret="s3cret") == user
    for bad in (
        unsubscribe_token(user, secret="other"),
        unsubscribe_token(uuid.uuid4(), secret="s3cret").split(".")[0] + "." + token.split(".")[1],
        "garbage",
        "a.b",
        "",
    ):
        with pytest.raises(InvalidInput):
            verify_unsubscribe_token(bad, secret="s3cret")
