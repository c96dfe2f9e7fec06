"""Webhook rules: signatures, event choice, target URLs, retry schedule, task folding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.task_fold import fold_task
from domain.webhooks import (
    RetryPolicy,
    check_events,
    check_url,
    is_private_host,
    sign,
    verify,
    wants,
)

SECRET = "whsec_test"
BODY = b'{"id":"1"}'


def test_a_signature_verifies_only_for_its_secret_body_and_time() -> None:
    header = sign(SECRET, 1_700_000_000, BODY)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, header, BODY, now=1_700_000_100)
    assert not verify("whsec_other", header, BODY, now=1_700_000_100)
    assert not verify(SECRET, header, BODY + b" ", now=1_700_000_100)
    assert not verify(SECRET, header, BODY, now=1_700_000_000 + 301)  # a replay, too late
    forged = header.replace("t=1700000000", "t=1700000200")
    assert not verify(SECRET, forged, BODY, now=1_700_000_200)
    for junk in ("", "t=1", "v1=ab", "t=x,v1=ab", "nonsense"):
        assert not verify(SECRET, junk, BODY, now=1_700_000_000)


def test_event_choice() -> None:
    assert check_events(["task.updated", "task.created", "task.created"]) == [
        "task.created",
        "task.updated",
    ]
    assert check_events(["task.created", "*"]) == ["*"]
    with pytest.raises(InvalidInput, match=r"task\.exploded"):
        check_events(["task.exploded"])
    with pytest.raises(InvalidInput):
        check_events([])
    assert wants(["*"], "comment.created")
    assert wants(["task.created"], "ping")
    assert not wants(["task.created"], "task.updated")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://api.localhost/x",
    ],
)
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInput, match="private"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "example.com/x", "https://u:p@example.com/x", "http:///x"]
)
def test_malformed_targets_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_url(url, allow_private=True)


def test_public_hosts_pass() -> None:
    assert check_url("https://hooks.example.com/taskhive", allow_private=False)
    assert not is_private_host("93.184.216.34")
    assert not is_private_host("example.com")


def test_retries_back_off_exponentially_and_stop_after_a_day() -> None:
    policy = RetryPolicy(
        base=timedelta(seconds=30), cap=timedelta(hours=1), give_up_after=timedelta(hours=24)
    )
    created = datetime(2026, 1, 1, tzinfo=UTC)
    delays = []
    now, attempts = created, 0
    while True:
        attempts += 1
        due = policy.next_attempt(attempts, created, now)
        if due is None:
            break
        delays.append((due - now).total_seconds())
        now = due
    assert delays[:6] == [30, 60, 120, 240, 480, 960]
    assert max(delays) == 3600
    assert now - created <= timedelta(hours=24)
    assert now - created > timedelta(hours=23)  # kept trying for (nearly) the whole day


def test_the_task_is_folded_from_its_events() -> None:
    created = {"task": {"id": "t1", "title": "A", "status": "todo", "version": 1}}
    updated = {"changes": {"title": "B"}, "version": 2}
    assert fold_task([("task.created", created), ("task.updated", updated)]) == {
        "id": "t1",
        "title": "B",
        "status": "todo",
        "version": 2,
    }
    assert fold_task([("comment.created", {"comment": {}})], start={"id": "t1"}) == {"id": "t1"}
    assert fold_task([("task.created", created), ("task.deleted", {})]) is None
    assert fold_task([("task.updated", updated)]) is None  # never saw it created
