"""Filtered task reads in PostgreSQL: the `filter=` page of `GET /api/v1/tasks`
and the streamed export `GET /api/v1/tasks/export?filter=…&format=csv`.

Both resolve the filter language like search does (`prepare_filter`) and run it
through `storage.task_filter_sql`, restricted to the caller's readable projects
inside the query. The export streams pages of rows as CSV, so memory stays flat
whatever the number of tasks; cells that a spreadsheet would run as a formula
are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from domain.custom_fields import FieldDef, FieldType
from domain.errors import InvalidInput
from domain.filters.needs import Needs
from domain.import_fields import display_value
from domain.tasks import Task
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import decode_cursor, encode_cursor, json_response
from serve_app.routes.search import PreparedFilter, prepare_filter
from serve_app.security import Principal
from storage import task_filter_sql

#: Included by `serve_app.routes.tasks` ahead of `/{ref}`, which takes its prefix.
router = APIRouter(tags=["tasks"])

EXPORT_PAGE = 500
CSV_COLUMNS = (
    "key",
    "title",
    "status",
    "priority",
    "assignee_id",
    "reporter_id",
    "labels",
    "sprint_id",
    "estimate",
    "due_date",
    "created_at",
    "updated_at",
    "id",
    "project_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The export's columns name every custom field in scope and show user values as emails.
_EXPORT_NEEDS = Needs(custom_fields=True, people=True)


async def _page(
    ctx: AppContext, prepared: PreparedFilter, org_id: UUID, limit: int, offset: int
) -> list[Task]:
    async with ctx.engine.connect() as conn:
        return await task_filter_sql.filtered_tasks(
            conn,
            org_id=org_id,
            project_ids=prepared.project_ids,
            pred=prepared.predicate,
            categories=prepared.facts.categories,
            sort=prepared.sort,
            limit=limit,
            offset=offset,
        )


async def filtered_page(
    ctx: AppContext,
    principal: Principal,
    text: str,
    *,
    project_id: UUID | None,
    limit: int,
    cursor: str | None,
) -> Response:
    """One page of `GET /api/v1/tasks?filter=…` (`{items, next_cursor}`)."""
    prepared = await prepare_filter(ctx, principal, {"filter": text}, project_id=project_id)
    offset = 0
    if cursor:
        position = decode_cursor(cursor)
        if position.get("f") != text or not isinstance(position.get("o"), int):
            raise InvalidInput("cursor belongs to another list")
        offset = max(0, position["o"])
    found = await _page(ctx, prepared, principal.org_id, limit, offset)
    page = found[:limit]
    next_cursor = encode_cursor({"f": text, "o": offset + limit}) if len(found) > limit else None
    return json_response({"items": [x.as_json() for x in page], "next_cursor": next_cursor})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = str(value)
    # A spreadsheet would run it as a formula: keep it text.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _custom_columns(prepared: PreparedFilter) -> dict[str, dict[UUID, FieldDef]]:
    """One column per custom field name in scope (first seen first), holding each
    project's field of that name."""
    columns: dict[str, dict[UUID, FieldDef]] = {}
    for scoped in prepared.facts.scope.custom_fields:
        columns.setdefault(scoped.field.name, {})[scoped.project_id] = scoped.field
    return columns


async def _csv_rows(
    ctx: AppContext, prepared: PreparedFilter, org_id: UUID
) -> AsyncIterator[bytes]:
    """The built-in columns, then one per custom field in scope (values as the
    project export shows them: option names, emails)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    custom = _custom_columns(prepared)
    emails = {str(uid): email for email, uid in prepared.facts.scope.users_by_email.items()}
    writer.writerow([*CSV_COLUMNS, *(f"cf.{name}" for name in custom)])
    offset = 0
    while True:
        found = await _page(ctx, prepared, org_id, EXPORT_PAGE, offset)
        for task in found[:EXPORT_PAGE]:
            row = task.as_json()
            values = []
            for by_project in custom.values():
                field = by_project.get(task.project_id)
                value = task.custom_fields.get(field.id) if field else None
                shown = display_value(field, value, emails) if field else ""
                # Numbers stay numbers (-1 is no formula); everything else is guarded.
                number = field is not None and field.type is FieldType.NUMBER
                values.append(shown if number else _cell(shown))
            writer.writerow([*(_cell(row.get(c)) for c in CSV_COLUMNS), *values])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if len(found) <= EXPORT_PAGE:
            return
        offset += EXPORT_PAGE


@router.get("/export")
async def export_tasks(
    principal: CurrentPrincipal,
    ctx: Ctx,
    filter: Annotated[str, Query(max_length=2000, description="the filter language")] = "",
    format: Annotated[str, Query(pattern="^csv$", description="only csv for now")] = "csv",
    project_id: UUID | None = None,
) -> Response:
    """Every task the filter selects among the readable ones, as CSV (streamed)."""
    prepared = await prepare_filter(
        ctx, principal, {"filter": filter}, project_id=project_id, also=_EXPORT_NEEDS
    )
    return StreamingResponse(
        _csv_rows(ctx, prepared, principal.org_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tasks.csv"'},
    )
