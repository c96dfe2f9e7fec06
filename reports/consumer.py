"""The analytics consumer of the outbox: committed events → the `report_*` tables.

It runs in the outbox relay (`actors.outbox`), so a task write never waits for
it. For each run of a project's events it locks the project's report state,
drops events at or below the version already applied (a replay changes
nothing), loads the current state of the tasks and sprints the events name,
folds the events (`reports.fold`) and writes the result together with the new
version, all in the relay's transaction.

When the project's time zone changed since its days were last counted, the day
tallies are recounted from the intervals first, so every tally is in one zone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.events import EventType
from reports.fold import Fold, initial_categories, interval_days, matters, needed_tasks
from storage import report_write as store
from storage.outbox import StoredEvent
from storage.report_write import ReportState

log = logging.getLogger(__name__)

CONSUMER_NAME = "reports"

_SPRINT_EVENTS = frozenset(
    {
        EventType.SPRINT_CREATED,
        EventType.SPRINT_UPDATED,
        EventType.SPRINT_STARTED,
        EventType.SPRINT_COMPLETED,
    }
)


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    """Picklable factory of the consumer, handed to the relay actor."""

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> ReportsConsumer:
        return ReportsConsumer()


class ReportsConsumer:
    name = CONSUMER_NAME
    #: Charts are read minutes or days later; a second changes nothing for them.
    linger_s = 1.0

    async def handle(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        """Fold one project's events (version order) in the relay's transaction."""
        if events:
            await self.handle_many(conn, {events[0].project_id: events})

    async def handle_many(
        self, conn: AsyncConnection, pending: Mapping[UUID, Sequence[StoredEvent]]
    ) -> None:
        """`handle` of several projects: those whose events change no report
        (titles, comments, ranks: most of them) move on in one statement."""
        passing = {p: events[-1].version for p, events in pending.items() if not _matter(events)}
        await store.pass_versions(conn, passing)
        for project_id, events in pending.items():
            if project_id not in passing:
                await apply_events(conn, project_id, events)

    async def background(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def apply_events(
    conn: AsyncConnection, project_id: UUID, events: Sequence[StoredEvent]
) -> int:
    """Fold the events of `project_id` not applied yet; how many were. Idempotent by
    `(project_id, version)`: the applied version is stored in this transaction.
    A run of events none of which can change a report (titles, comments, ranks)
    costs one statement that moves the version on."""
    if events and not _matter(events):
        await store.pass_versions(conn, {project_id: events[-1].version})
        return 0
    state = await store.lock_state(conn, project_id)
    fresh = [e for e in events if state is None or e.version > state.version]
    if not fresh:
        return 0
    facts = await store.project_facts(conn, project_id)
    org_id = facts.org_id if facts else fresh[0].org_id
    zone_name = facts.time_zone if facts else (state.time_zone if state else "UTC")
    if state is None:
        categories = initial_categories(facts.workflow if facts else None)
    else:
        categories = state.categories
        if state.time_zone != zone_name:
            await recount_days(conn, project_id, zone_name)
    needed = needed_tasks(fresh)
    has_sprint_events = any(e.type in _SPRINT_EVENTS for e in fresh)
    fold = Fold(
        zone=ZoneInfo(zone_name),
        categories=categories,
        tasks=await store.open_intervals(conn, project_id, needed),
        flows=await store.flows(conn, project_id, needed),
        sprints=await store.sprints(conn, project_id) if has_sprint_events else {},
    )
    effects = fold.apply_all(fresh)
    await store.write_effects(conn, project_id, effects)
    await store.save_state(
        conn, project_id, org_id, ReportState(fresh[-1].version, zone_name, fold.categories)
    )
    return len(fresh)


def _matter(events: Sequence[StoredEvent]) -> bool:
    return any(matters(e) for e in events)


async def recount_days(conn: AsyncConnection, project_id: UUID, zone_name: str) -> None:
    """Re-bucket the project's day tallies in `zone_name` from its intervals."""
    intervals = await store.all_intervals(conn, project_id)
    await store.replace_days(conn, project_id, interval_days(intervals, ZoneInfo(zone_name)))
    log.info("reports: recounted days of project %s in %s", project_id, zone_name)
