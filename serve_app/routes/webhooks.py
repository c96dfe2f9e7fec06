"""`/api/v1/webhooks`: outgoing webhooks, their delivery log, ping and redelivery.

An organisation-wide hook (no `project_id`) is managed by the organisation's
owners and admins; a project's hook also by that project's admins. The secret
is shown once, on creation (and on rotation); receivers verify
`X-Taskhive-Signature` with it (see docs/webhooks.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import webhooks as rules
from domain.errors import Forbidden, InvalidInput, NotFound
from realtime.webhooks import ping_payload
from serve_app.access import access_project, caller_role, is_project_admin
from serve_app.client_address import caller_ip
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import decode_cursor, encode_cursor, json_response
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import accounts
from storage import webhooks as store

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

ORG_ADMIN_ROLES = frozenset({"owner", "admin"})


class WebhookIn(Strict):
    url: str = Field(max_length=2000)
    events: list[str] = Field(min_length=1, max_length=64, description="event types, or ['*']")
    project_id: UUID | None = Field(default=None, description="omit for the whole organisation")
    description: str = Field(default="", max_length=200)


class WebhookPatch(Strict):
    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = Field(default=None, description="true also clears the failure count")


async def _check_manager(ctx: AppContext, principal: Principal, project_id: UUID | None) -> None:
    if await caller_role(ctx, principal) in ORG_ADMIN_ROLES:
        return
    if project_id is not None and await is_project_admin(ctx, principal, project_id):
        return
    raise Forbidden(
        "managing webhooks needs an organisation owner or admin"
        + (", or an admin of the project" if project_id else "")
    )


async def _hook(ctx: AppContext, principal: Principal, hook_id: UUID) -> Any:
    """The caller's organisation's hook that the caller may manage (else 404/403)."""
    async with ctx.engine.connect() as conn:
        hook = await store.get(conn, org_id=principal.org_id, hook_id=hook_id)
    if hook is None:
        raise NotFound("webhook not found")
    await _check_manager(ctx, principal, hook.project_id)
    return hook


async def _audit(
    conn: AsyncConnection,
    principal: Principal,
    request: Request,
    action: str,
    hook_id: UUID,
    details: dict[str, Any] | None = None,
) -> None:
    """The audit row of a change to a hook, in the change's transaction."""
    await accounts.audit(
        conn,
        org_id=principal.org_id,
        actor_id=principal.user_id,
        action=action,
        target_type="webhook",
        target_id=str(hook_id),
        client_ip=caller_ip(request),
        details=details,
    )


@router.post("", status_code=201)
async def create_webhook(
    body: WebhookIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Create a hook; the response carries its `secret`, shown only this once."""
    if body.project_id is not None:
        await access_project(ctx, principal, body.project_id)
    await _check_manager(ctx, principal, body.project_id)
    url = rules.check_url(body.url, allow_private=ctx.config.webhook_allow_private)
    events = rules.check_events(body.events)
    secret = rules.new_secret()
    async with ctx.engine.begin() as conn:
        hook = await store.create(
            conn,
            org_id=principal.org_id,
            project_id=body.project_id,
            url=url,
            secret=secret,
            events=events,
            description=body.description,
            created_by=principal.user_id,
        )
        await _audit(
            conn,
            principal,
            request,
            "webhook.created",
            hook.id,
            {"url": url, "events": events, "project_id": str(body.project_id or "")},
        )
    return json_response({**store.hook_json(hook), "secret": secret}, status=201)


@router.get("")
async def list_webhooks(
    principal: CurrentPrincipal, ctx: Ctx, project_id: UUID | None = None
) -> Response:
    """The organisation's hooks (owners, admins), or one project's (its admins too)."""
    if project_id is not None:
        await access_project(ctx, principal, project_id)
    await _check_manager(ctx, principal, project_id)
    async with ctx.engine.connect() as conn:
        rows = await store.list_hooks(
            conn,
            org_id=principal.org_id,
            project_ids=[project_id] if project_id is not None else None,
        )
    return json_response({"items": [store.hook_json(r) for r in rows]})


@router.get("/{hook_id}")
async def get_webhook(hook_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    return json_response(store.hook_json(await _hook(ctx, principal, hook_id)))


@router.patch("/{hook_id}")
async def update_webhook(
    hook_id: UUID, body: WebhookPatch, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Change the URL, events, description, or switch the hook on or off."""
    await _hook(ctx, principal, hook_id)
    values: dict[str, Any] = body.model_dump(exclude_unset=True)
    for name in ("url", "events", "active", "description"):
        if name in values and values[name] is None:
            raise InvalidInput.field(name, "must not be null")
    if "url" in values:
        values["url"] = rules.check_url(
            values["url"], allow_private=ctx.config.webhook_allow_private
        )
    if "events" in values:
        values["events"] = rules.check_events(values["events"])
    if not values:
        raise InvalidInput("nothing to change")
    async with ctx.engine.begin() as conn:
        hook = await store.update_hook(
            conn, org_id=principal.org_id, hook_id=hook_id, values=values
        )
        if hook is None:
            raise NotFound("webhook not found")
        await _audit(
            conn,
            principal,
            request,
            "webhook.updated",
            hook_id,
            {k: v for k, v in values.items() if k != "consecutive_failures"},
        )
    return json_response(store.hook_json(hook))


@router.post("/{hook_id}/rotate-secret")
async def rotate_secret(
    hook_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """A new secret (shown once); deliveries are signed with it from now on."""
    await _hook(ctx, principal, hook_id)
    secret = rules.new_secret()
    async with ctx.engine.begin() as conn:
        hook = await store.update_hook(
            conn, org_id=principal.org_id, hook_id=hook_id, values={"secret": secret}
        )
        if hook is None:
            raise NotFound("webhook not found")
        await _audit(conn, principal, request, "webhook.secret_rotated", hook_id)
    return json_response({**store.hook_json(hook), "secret": secret})


@router.delete("/{hook_id}", status_code=204)
async def delete_webhook(
    hook_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Delete a hook and its delivery log; pending deliveries are dropped."""
    await _hook(ctx, principal, hook_id)
    async with ctx.engine.begin() as conn:
        if not await store.delete_hook(conn, org_id=principal.org_id, hook_id=hook_id):
            raise NotFound("webhook not found")
        await _audit(conn, principal, request, "webhook.deleted", hook_id)
    return Response(status_code=204)


@router.post("/{hook_id}/ping", status_code=202)
async def ping_webhook(hook_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Queue a `ping` delivery now; its outcome appears in the delivery log."""
    hook = await _hook(ctx, principal, hook_id)
    if not hook.active:
        raise InvalidInput("the webhook is switched off; PATCH it with active=true first")
    now = datetime.now(UTC)
    async with ctx.engine.begin() as conn:
        row = await store.queue_ping(conn, hook, ping_payload(hook, now), now)
    return json_response(store.delivery_json(row), status=202)


@router.get("/{hook_id}/deliveries")
async def list_deliveries(
    hook_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """The hook's delivery log, newest first: status, attempts, last response code."""
    await _hook(ctx, principal, hook_id)
    before = None
    if cursor:
        position = decode_cursor(cursor)
        try:
            before = (
                datetime.fromisoformat(position["c"]),
                int(position["v"]),
                UUID(position["i"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("cursor is not one this API returned") from None
    async with ctx.engine.connect() as conn:
        rows = await store.list_deliveries(conn, hook_id=hook_id, before=before, limit=limit)
    page = rows[:limit]
    last = page[-1] if page else None
    next_cursor = (
        encode_cursor({"c": last.created_at.isoformat(), "v": last.version or 0, "i": str(last.id)})
        if last is not None and len(rows) > limit
        else None
    )
    return json_response(
        {"items": [store.delivery_json(r) for r in page], "next_cursor": next_cursor}
    )


@router.post("/{hook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(
    hook_id: UUID, delivery_id: UUID, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Send a delivery again now, with its original id and payload."""
    await _hook(ctx, principal, hook_id)
    async with ctx.engine.begin() as conn:
        row = await store.redeliver(
            conn, hook_id=hook_id, delivery_id=delivery_id, now=datetime.now(UTC)
        )
    if row is None:
        raise NotFound("delivery not found")
    return json_response(store.delivery_json(row), status=202)
