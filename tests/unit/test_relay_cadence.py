"""When a consumer's relay loop runs its next pass (`actors.outbox.pause_after`)
and which linger a consumer gets (`linger_of`)."""

from __future__ import annotations

from actors.outbox import LINGER_S, linger_of, pause_after
from realtime.notify_consumer import NotificationConsumer
from reports.consumer import ReportsConsumer
from search.consumer import SearchConsumer


def test_a_pass_that_delivered_lingers_for_the_consumers_time() -> None:
    assert pause_after(0.5, delivered=True, backlog=False) == 0.5


def test_a_backlog_goes_on_at_once_while_it_moves() -> None:
    assert pause_after(0.5, delivered=True, backlog=True) == 0.0


def test_an_idle_or_stuck_loop_waits_to_be_woken() -> None:
    # The first commit after a quiet spell goes at once (the wake), and projects
    # that keep failing or are locked elsewhere are not rescanned in a tight loop.
    assert pause_after(0.5, delivered=False, backlog=False) is None
    assert pause_after(0.5, delivered=False, backlog=True) is None


class _Plain:
    name = "plain"


def test_a_consumer_without_a_linger_gets_the_relays() -> None:
    assert linger_of(_Plain(), LINGER_S) == LINGER_S  # type: ignore[arg-type]


def test_search_lingers_least_and_reports_longer_than_notifications() -> None:
    search, notify, reports = (
        SearchConsumer.linger_s,
        NotificationConsumer.linger_s,
        ReportsConsumer.linger_s,
    )
    # Search freshness is a 1 s p99 end to end with the shard's own commit on top;
    # notifications are expected within a second or two.
    assert search <= 0.15 and search < notify <= 1.0 and reports >= notify
