"""`GET /api/v1/audit`: the organisation's security log, for owners and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from domain.errors import InvalidInput
from domain.permissions import OrgAction
from serve_app.access import require_org
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import decode_cursor, encode_cursor, json_response
from storage.audit_read import AuditQuery, list_audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("")
async def audit_log(
    principal: CurrentPrincipal,
    ctx: Ctx,
    actor_id: UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """Newest first; filter by actor, action and time range (`since` inclusive,
    `until` exclusive, ISO 8601 with a time zone). 403 for members and guests."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput.field(name, "needs a time zone, e.g. 2026-01-01T00:00:00Z")
    before_id = None
    if cursor:
        position = decode_cursor(cursor)
        if not isinstance(position.get("b"), int):
            raise InvalidInput("cursor is not one this API returned")
        before_id = position["b"]
    await require_org(ctx, principal, OrgAction.SEE_AUDIT_LOG)
    async with ctx.engine.connect() as conn:
        query = AuditQuery(actor_id, action, since, until, before_id, limit)
        rows = await list_audit(conn, org_id=principal.org_id, query=query)
    page = rows[:limit]
    items = [
        {
            "id": r.id,
            "actor_id": str(r.actor_id) if r.actor_id else None,
            "action": r.action,
            "target_type": r.target_type,
            "target_id": r.target_id,
            "client_ip": str(r.client_ip) if r.client_ip else None,
            "request_id": r.request_id,
            "details": r.details,
            "created_at": r.created_at.isoformat(),
        }
        for r in page
    ]
    next_cursor = encode_cursor({"b": page[-1].id}) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": next_cursor})
