"""`taskhive reports rebuild`: recompute a project's analytics from the event log.

The same fold as the live consumer, from version 1 and an empty state, in one
transaction that holds the consumer's offset of the project (the relay skips the
project meanwhile and resumes after the rebuilt version). Readers see the old
tables until the commit, then the new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from reports.consumer import CONSUMER_NAME
from reports.fold import Fold, initial_categories
from storage import outbox
from storage import report_write as store
from storage.report_write import ReportState

#: Events read per query while folding.
PAGE = 1_000


@dataclass(frozen=True, slots=True)
class Rebuilt:
    project_id: UUID
    events: int
    version: int


async def rebuild_project(engine: AsyncEngine, project_id: UUID) -> Rebuilt:
    """Replace the project's report tables with a fold of its whole event log."""
    async with engine.begin() as conn:
        await store.hold_offset(conn, CONSUMER_NAME, project_id)
        await store.clear_project(conn, project_id)
        facts = await store.project_facts(conn, project_id)
        if facts is None:
            return Rebuilt(project_id, 0, 0)
        fold = Fold(zone=ZoneInfo(facts.time_zone), categories=initial_categories(facts.workflow))
        last, count = 0, 0
        while True:
            events = await outbox.read_events(conn, project_id, after=last, limit=PAGE)
            if not events:
                break
            fold.apply_all(events)
            last, count = events[-1].version, count + len(events)
        await store.write_effects(conn, project_id, fold.effects)
        await store.save_state(
            conn, project_id, facts.org_id, ReportState(last, facts.time_zone, fold.categories)
        )
        await outbox.advance(conn, CONSUMER_NAME, project_id, last)
    return Rebuilt(project_id, count, last)


async def rebuild(engine: AsyncEngine, project_id: UUID | None = None) -> list[Rebuilt]:
    """Rebuild one project, or every project that has events (each in its own
    transaction, so a large installation is not held in one)."""
    if project_id is not None:
        return [await rebuild_project(engine, project_id)]
    async with engine.connect() as conn:
        ids = await store.project_ids(conn)
    return [await rebuild_project(engine, pid) for pid in ids]
