"""Running a planned import: new statuses first, then the items batch by batch
through the project's grain, recording progress on the job after each batch.

The plan is kept on the job (`imports.plan`) and every batch renews its
heartbeat. When the process running an import dies, the relay actor's
`ImportResumer` chore finds the job silent for `SILENT_S`, claims it and carries
on from the first batch not recorded as done (a batch that committed without
being recorded is answered from its stored reply).

Custom fields the file brings come next (one `CreateField` each). Each batch is
one `ImportTasks` command with an idempotency key of its own
(`import:<job>:<batch>`), so a retried batch whose first attempt committed is
answered from the stored reply instead of importing twice. A batch the grain
refuses stops the import: the job is `failed` with the reason and the count of
issues imported before it (batches commit on their own, so that many stay).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import ray
from sqlalchemy.ext.asyncio import AsyncEngine

from actors.placement import host_names
from actors.router import NAMESPACE, HostRouter
from domain.commands import CreateField, IdempotencyKey, ImportTasks, UpdateWorkflow
from domain.custom_fields import FieldDef, definitions_from_json
from domain.errors import DomainError
from domain.import_fields import creation_body
from domain.imports import (
    BATCH_SIZE,
    ImportItem,
    batches,
    item_from_json,
    item_to_json,
    workflow_with,
)
from storage import catalog
from storage import imports as jobs

log = logging.getLogger(__name__)

#: Imports running in this process (kept referenced so they are not collected).
_running: set[asyncio.Task[None]] = set()
#: A running job without a heartbeat for this long is resumed elsewhere.
SILENT_S = 60.0


class Runner(Protocol):
    """What an import needs: the database and the project grains."""

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def router(self) -> HostRouter: ...


def plan_json(
    items: Sequence[ImportItem], new_statuses: dict[str, str], new_fields: Sequence[FieldDef]
) -> dict[str, Any]:
    """What `imports.plan` keeps of a job: everything `run` needs."""
    return {
        "items": [item_to_json(x) for x in items],
        "new_statuses": new_statuses,
        "new_fields": [f.as_json() for f in new_fields],
    }


def start(
    ctx: Runner,
    *,
    job_id: UUID,
    org_id: UUID,
    project_id: UUID,
    actor_id: UUID,
    source: str,
    items: Sequence[ImportItem],
    new_statuses: dict[str, str],
    new_fields: Sequence[FieldDef] = (),
) -> asyncio.Task[None]:
    task = asyncio.create_task(
        run(ctx, job_id, org_id, project_id, actor_id, source, items, new_statuses, new_fields)
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def run(
    ctx: Runner,
    job_id: UUID,
    org_id: UUID,
    project_id: UUID,
    actor_id: UUID,
    source: str,
    items: Sequence[ImportItem],
    new_statuses: dict[str, str],
    new_fields: Sequence[FieldDef] = (),
    done: int = 0,
    resumed: bool = False,
) -> None:
    """Run an import, or resume one (`resumed`, with `done` items recorded)."""
    first = done // BATCH_SIZE
    done = first * BATCH_SIZE
    # Resuming, the first batch may have committed without being recorded: its
    # key is looked up (a stored reply answers it) instead of taken for granted.
    resuming = bool(first) or resumed
    try:
        if new_statuses:
            await _add_statuses(ctx, org_id, project_id, actor_id, new_statuses)
        if new_fields:
            await _add_fields(ctx, org_id, project_id, actor_id, new_fields)
        for n, batch in enumerate(batches(list(items))):
            if n < first:
                continue
            key = IdempotencyKey(
                org_id,
                actor_id,
                f"import:{job_id}:{n}",
                f"{job_id}:{n}",
                first_attempt=not (resuming and n == first),
            )
            command = ImportTasks(actor_id, job_id, source, batch)
            await ctx.router.call(project_id, "apply", org_id, project_id, command, key)
            done += len(batch)
            async with ctx.engine.begin() as conn:
                await jobs.advance(conn, job_id, done)
        status, error = "done", None
    except DomainError as exc:
        status, error = "failed", exc.detail
    except Exception as exc:
        log.exception("import %s failed", job_id)
        status, error = "failed", f"internal error ({type(exc).__name__}); {done} imported"
    async with ctx.engine.begin() as conn:
        await jobs.finish(conn, job_id, status=status, error=error)


async def _add_fields(
    ctx: Runner, org_id: UUID, project_id: UUID, actor_id: UUID, new: Sequence[FieldDef]
) -> None:
    """Create the custom fields the file brings (new ids; values name them by name),
    skipping any the project has gained since planning."""
    async with ctx.engine.connect() as conn:
        project = await catalog.get_project(conn, org_id=org_id, project_id=project_id)
    if project is None:
        raise DomainError("the project was deleted")
    present = {f.name.lower() for f in project.fields}
    for field in new:
        if field.name.lower() not in present:
            command = CreateField(actor_id, creation_body(field))
            await ctx.router.call(project_id, "apply", org_id, project_id, command, None)


async def _add_statuses(
    ctx: Runner, org_id: UUID, project_id: UUID, actor_id: UUID, new: dict[str, str]
) -> None:
    async with ctx.engine.connect() as conn:
        project = await catalog.get_project(conn, org_id=org_id, project_id=project_id)
    if project is None:
        raise DomainError("the project was deleted")
    workflow = project.workflow.as_json()
    present = {s["id"] for s in workflow["statuses"]}
    wanted = {name: sid for name, sid in new.items() if sid not in present}
    if not wanted:
        return
    command = UpdateWorkflow(
        actor_id, workflow_with(workflow, wanted), if_version=project.workflow.version
    )
    await ctx.router.call(project_id, "apply", org_id, project_id, command, None)


# -- resuming the imports of a process that died ---------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResumerConfig:
    """Picklable factory of the chore, handed to the outbox relay actor."""

    hosts: int
    interval_s: float = 15.0
    silent_s: float = SILENT_S

    def __call__(self, engine: AsyncEngine) -> ImportResumer:
        return ImportResumer(self, engine)


class ImportResumer:
    """Claims stalled imports and runs them to the end in this process."""

    def __init__(self, config: ImportResumerConfig, engine: AsyncEngine) -> None:
        self._config = config
        self.engine = engine
        self._router: HostRouter | None = None

    @property
    def router(self) -> HostRouter:
        if self._router is None:
            names = host_names(self._config.hosts)
            self._router = HostRouter({n: ray.get_actor(n, namespace=NAMESPACE) for n in names})
        return self._router

    async def run(self) -> None:
        while True:
            try:
                while await self.resume_one():
                    pass
            except Exception:
                log.exception("resuming imports failed; the next pass retries")
            await asyncio.sleep(self._config.interval_s)

    async def resume_one(self) -> bool:
        """Claim one stalled import and run it to the end; whether there was one."""
        async with self.engine.begin() as conn:
            job = await jobs.claim_stalled(conn, silent_s=self._config.silent_s)
        if job is None:
            return False
        if job.created_by is None:  # the importing user was deleted meanwhile
            async with self.engine.begin() as conn:
                await jobs.finish(
                    conn, job.id, status="failed", error=f"the importer left; {job.done} imported"
                )
            return True
        log.warning("resuming import %s of project %s at %d", job.id, job.project_id, job.done)
        plan = job.plan
        await run(
            self,
            job.id,
            job.org_id,
            job.project_id,
            job.created_by,
            job.source,
            [item_from_json(x) for x in plan["items"]],
            dict(plan["new_statuses"]),
            definitions_from_json(plan["new_fields"]),
            done=job.done,
            resumed=True,
        )
        return True
