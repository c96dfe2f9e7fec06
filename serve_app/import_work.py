"""Running a planned import: new statuses first, then the items batch by batch
through the project's grain, recording progress on the job after each batch.

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
from uuid import UUID

from domain.commands import CreateField, IdempotencyKey, ImportTasks, UpdateWorkflow
from domain.custom_fields import FieldDef
from domain.errors import DomainError
from domain.import_fields import creation_body
from domain.imports import ImportItem, batches, workflow_with
from serve_app.context import AppContext
from storage import catalog
from storage import imports as jobs

log = logging.getLogger(__name__)

#: Imports running in this replica (kept referenced so they are not collected).
_running: set[asyncio.Task[None]] = set()


def start(
    ctx: AppContext,
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
    ctx: AppContext,
    job_id: UUID,
    org_id: UUID,
    project_id: UUID,
    actor_id: UUID,
    source: str,
    items: Sequence[ImportItem],
    new_statuses: dict[str, str],
    new_fields: Sequence[FieldDef] = (),
) -> None:
    done = 0
    try:
        if new_statuses:
            await _add_statuses(ctx, org_id, project_id, actor_id, new_statuses)
        if new_fields:
            await _add_fields(ctx, org_id, project_id, actor_id, new_fields)
        for n, batch in enumerate(batches(list(items))):
            key = IdempotencyKey(
                org_id, actor_id, f"import:{job_id}:{n}", f"{job_id}:{n}", first_attempt=True
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
    ctx: AppContext, org_id: UUID, project_id: UUID, actor_id: UUID, new: Sequence[FieldDef]
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
    ctx: AppContext, org_id: UUID, project_id: UUID, actor_id: UUID, new: dict[str, str]
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
