"""The in-app inbox, notification preferences, and the unsubscribe link.

Notifications are written by the outbox's notification consumer, eventually
after the change that caused them; these routes only read and mark them. Every
query is scoped to the caller's user *and* organisation: anyone else's
notification is 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from domain.errors import InvalidInput, NotFound
from domain.notification_prefs import changed_preferences, verify_unsubscribe_token
from serve_app.access import unreadable_project_ids
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import decode_cursor, encode_cursor, json_response
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import notifications as store
from storage.db import driver_connection

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
settings_router = APIRouter(prefix="/api/v1/users/me", tags=["notifications"])

ChannelName = Literal["email", "in_app", "off"]


class NotificationOut(BaseModel):
    id: UUID
    kind: str
    project_id: UUID
    task_id: UUID | None
    actor_id: UUID | None
    version: int
    title: str
    summary: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


UnreadCountField = Annotated[
    int, Field(description=f"unread notifications, counted up to {store.UNREAD_COUNTED_MAX:,}")
]
UnreadMoreField = Annotated[bool, Field(description="more are unread than `unread_count` says")]


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread_count: UnreadCountField
    unread_more: UnreadMoreField


class ReadAllOut(BaseModel):
    marked: int
    unread_count: UnreadCountField
    unread_more: UnreadMoreField


class NotificationSettingsOut(BaseModel):
    email_enabled: bool
    channels: dict[str, ChannelName]


class NotificationSettingsIn(Strict):
    """Change the email switch and/or the channel of some kinds; others stay as they are."""

    email_enabled: bool | None = None
    channels: dict[str, str] = Field(default_factory=dict, max_length=32)


def _position(cursor: str | None) -> tuple[datetime, UUID] | None:
    if not cursor:
        return None
    data = decode_cursor(cursor)
    try:
        created = datetime.fromisoformat(data["c"])
        if created.tzinfo is None:
            raise ValueError("naive time")
        return created, UUID(data["i"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("cursor is not one this API returned") from None


@router.get("", response_model=NotificationList)
async def list_notifications(
    principal: CurrentPrincipal,
    ctx: Ctx,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
) -> Response:
    """The caller's notifications, newest first. `unread=true` lists only unread
    ones; `unread_count` counts the unread ones, whatever the page, up to
    1,000 (`unread_more` says there are more). Notifications about projects the
    caller may no longer read are left out of both."""
    return await inbox_page(ctx, principal, unread=unread, limit=limit, cursor=cursor)


async def inbox_page(
    ctx: AppContext, principal: Principal, *, unread: bool, limit: int, cursor: str | None
) -> Response:
    before = _position(cursor)
    # Someone who lost access to a project no longer sees what it told them.
    hidden = await unreadable_project_ids(ctx, principal)
    async with driver_connection(ctx.engine) as conn:
        rows, counted = await store.inbox_page(
            conn,
            org_id=principal.org_id,
            user_id=principal.user_id,
            unread_only=unread,
            before=before,
            limit=limit,
            hidden=hidden,
        )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"c": last["created_at"].isoformat(), "i": str(last["id"])})
    return json_response(
        {
            "items": [store.notification_json(r) for r in page],
            "next_cursor": next_cursor,
            "unread_count": counted.count,
            "unread_more": counted.more,
        }
    )


@router.post("/read-all", response_model=ReadAllOut)
async def read_all(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Mark every notification of the caller read."""
    async with ctx.engine.begin() as conn:
        marked = await store.mark_all_read(
            conn, org_id=principal.org_id, user_id=principal.user_id, now=datetime.now(UTC)
        )
        unread = await store.unread_count(conn, org_id=principal.org_id, user_id=principal.user_id)
    return json_response(
        {"marked": marked, "unread_count": unread.count, "unread_more": unread.more}
    )


async def _unsubscribe(ctx: Ctx, token: str) -> None:
    user_id = verify_unsubscribe_token(token, secret=ctx.config.jwt_secret)
    async with ctx.engine.begin() as conn:
        if not await store.disable_email(conn, user_id):
            raise NotFound("no such user")


_UNSUBSCRIBED_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Unsubscribed</title></head>
<body style="font-family: sans-serif; max-width: 480px; margin: 48px auto;">
<h1>You will get no more email from Taskhive</h1>
<p>Notifications still appear in the app. You can turn email back on in your
notification settings.</p></body></html>"""


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(ctx: Ctx, token: Annotated[str, Query(max_length=200)]) -> Response:
    """The link in every email: turns all email off for its user. No login needed;
    the token is signed. Safe to follow twice."""
    await _unsubscribe(ctx, token)
    return HTMLResponse(_UNSUBSCRIBED_PAGE)


@router.post("/unsubscribe", status_code=204)
async def unsubscribe_one_click(ctx: Ctx, token: Annotated[str, Query(max_length=200)]) -> Response:
    """RFC 8058 one-click unsubscribe, as mail clients send it (`List-Unsubscribe-Post`)."""
    await _unsubscribe(ctx, token)
    return Response(status_code=204)


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def read_one(notification_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Mark one notification read; reading it again keeps the first time."""
    try:
        nid = UUID(notification_id)
    except ValueError:
        raise NotFound("notification not found") from None
    async with ctx.engine.begin() as conn:
        row = await store.mark_read(
            conn,
            org_id=principal.org_id,
            user_id=principal.user_id,
            notification_id=nid,
            now=datetime.now(UTC),
        )
    if row is None:
        raise NotFound("notification not found")
    return json_response(store.notification_json(row._mapping))


@settings_router.get("/notification-settings", response_model=NotificationSettingsOut)
async def get_settings(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Per kind of notification: `email` (inbox and email), `in_app` or `off`."""
    async with ctx.reads.connect() as conn:
        prefs = (await store.preferences(conn, [principal.user_id]))[principal.user_id]
    return json_response(prefs.as_json())


@settings_router.put("/notification-settings", response_model=NotificationSettingsOut)
async def put_settings(
    body: NotificationSettingsIn, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Change the email switch and the channels of the kinds named; 422 names an
    unknown kind or channel."""
    async with ctx.engine.begin() as conn:
        current = (await store.preferences(conn, [principal.user_id]))[principal.user_id]
        prefs = changed_preferences(
            current, email_enabled=body.email_enabled, channels=body.channels
        )
        await store.save_preferences(conn, principal.user_id, prefs)
    return json_response(prefs.as_json())
