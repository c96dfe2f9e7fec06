"""Local days of a project's time zone: what "a day" means in every report.

A day runs from local midnight to the next local midnight; the value of a series
"at the end of day D" is the state after every event stamped before the instant
day D + 1 starts. Where a zone skips midnight (a daylight-saving change at
00:00), the day starts when the clocks do, which `day_start` gets right because a
non-existent local time resolves with the offset in force before the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The project-local date of an aware instant."""
    return at.astimezone(zone).date()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) local day `day` begins."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) local day `day` is over: the start of the next one."""
    return day_start(day + ONE_DAY, zone)


def each_day(first: date, last: date) -> Iterator[date]:
    """Every date from `first` to `last`, both included."""
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


def week_of(day: date) -> date:
    """The Monday that starts `day`'s week (ISO weeks)."""
    return day - timedelta(days=day.weekday())
