"""Invitations by email: owners and admins invite, the invitee accepts with the
token from the email (`POST /api/v1/invitations/accept`).

The token is the proof that the invitee reads that mailbox; it is stored hashed,
works once, and expires after `invitation_ttl_s`. Someone without an account
accepts with a name and password (the account is created); someone with one must
be logged in as that account, so an invitation is never a way to log in. The
email is sent after the invitation committed, straight to the configured SMTP
server (or the mail directory): the notification queue is built around in-app
notifications and digests, which an invitation is not. If sending fails the
invitation stays, `email_sent` is false, and the admin can revoke and re-invite.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import EmailStr, Field
from sqlalchemy.exc import IntegrityError

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from domain.permissions import OrgAction, may_assign_org_role
from realtime.notify_email import DeliveryError, transport_for
from serve_app.access import forget_org, require_org
from serve_app.client_address import caller_ip
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.routes.auth import issue_tokens
from serve_app.schemas import Strict
from serve_app.security import Principal, hash_password, hash_token
from storage import accounts, memberships
from storage import invitations as store

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])

_optional_bearer = HTTPBearer(auto_error=False)
_TOKEN_PREFIX = "thi_"  # noqa: S105 - a marker, not a secret


class InvitationIn(Strict):
    email: EmailStr
    role: Literal["admin", "member", "guest"] = "member"


class AcceptIn(Strict):
    token: str = Field(min_length=1, max_length=256)
    #: For someone without an account: the new account's name and password.
    name: str | None = Field(default=None, min_length=1, max_length=120)
    password: str | None = Field(default=None, min_length=8, max_length=1024)


def _accept_url(base: str | None, token: str) -> str:
    return f"{(base or '').rstrip('/')}/invitations/accept?token={token}"


def _email(*, to: str, from_addr: str, org: str, role: str, url: str, days: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_addr
    message["To"] = to
    message["Subject"] = f"You are invited to {org} on Taskhive"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=from_addr.rsplit("@", 1)[-1].strip(" >") or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"You have been invited to join {org} on Taskhive as {role}.\n\n"
        f"Accept the invitation: {url}\n\n"
        f"The link works once and expires in {days} days. "
        "If you did not expect this, ignore this email.\n"
    )
    return message


@router.post("", status_code=201)
async def invite(
    body: InvitationIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Invite someone by email; 409 if they already are a member."""
    actor = await require_org(ctx, principal, OrgAction.MANAGE_MEMBERS)
    if not may_assign_org_role(actor, current=None, new=body.role):
        raise Forbidden(f"an organisation {actor.value} may not invite a {body.role}")
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    config = ctx.config
    async with ctx.engine.begin() as conn:
        existing = await store.user_by_email(conn, str(body.email))
        if existing is not None and await memberships.get_member(
            conn, org_id=principal.org_id, user_id=existing
        ):
            raise Conflict("this person already is a member of the organisation")
        invitation = await store.create(
            conn,
            org_id=principal.org_id,
            email=str(body.email),
            role=body.role,
            token_hash=hash_token(token),
            invited_by=principal.user_id,
            expires_at=now + timedelta(seconds=config.invitation_ttl_s),
        )
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="invitation.created",
            target_type="invitation",
            target_id=str(invitation.id),
            client_ip=caller_ip(request),
            details={"email": str(body.email), "role": body.role},
        )
        org = await store.org_name(conn, principal.org_id)
    message = _email(
        to=str(body.email),
        from_addr=config.smtp_from,
        org=org,
        role=body.role,
        url=_accept_url(config.public_url, token),
        days=max(1, config.invitation_ttl_s // 86400),
    )
    try:
        await transport_for(config.smtp_url, Path(config.mail_dir)).send(message)
        sent = True
    except DeliveryError as exc:
        log.warning("invitation %s: email not sent: %s", invitation.id, exc)
        sent = False
    return json_response({**invitation.as_json(), "email_sent": sent}, status=201)


@router.get("")
async def list_invitations(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Pending invitations (not accepted, revoked or expired), newest first."""
    await require_org(ctx, principal, OrgAction.MANAGE_MEMBERS)
    async with ctx.engine.connect() as conn:
        found = await store.pending(conn, org_id=principal.org_id, now=datetime.now(UTC))
    return json_response({"items": [i.as_json() for i in found]})


@router.delete("/{invitation_id}", status_code=204)
async def revoke_invitation(
    invitation_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    await require_org(ctx, principal, OrgAction.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        if not await store.revoke(conn, org_id=principal.org_id, invitation_id=invitation_id):
            raise NotFound("invitation not found")
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="invitation.revoked",
            target_type="invitation",
            target_id=str(invitation_id),
            client_ip=caller_ip(request),
        )
    return Response(status_code=204)


@router.post("/accept")
async def accept(
    body: AcceptIn,
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
) -> Response:
    """Join the organisation; answers a token pair for it. 404 for an unknown or
    revoked token, 409 when it was used or expired, 401 when the invited email has
    an account and the caller is not logged in as it."""
    caller = await ctx.auth.authenticate(credentials.credentials) if credentials else None
    password_hash = await hash_password(body.password) if body.password else None
    now = datetime.now(UTC)
    try:
        async with ctx.engine.begin() as conn:
            invitation = await store.claim(conn, hash_token(body.token))
            if invitation is None or invitation.revoked_at is not None:
                raise NotFound("invitation not found")
            if invitation.accepted_at is not None:
                raise Conflict("this invitation was already accepted")
            if invitation.expires_at <= now:
                raise Conflict("this invitation has expired; ask for a new one")
            user_id = await store.user_by_email(conn, invitation.email)
            if user_id is not None:
                if caller is None or caller.user_id != user_id:
                    raise Unauthenticated(
                        "an account with the invited email exists: log in as it to accept"
                    )
            else:
                if body.name is None or password_hash is None:
                    raise InvalidInput.field("password", "a new account needs name and password")
                user_id = await accounts.create_user(
                    conn, email=invitation.email, name=body.name, password_hash=password_hash
                )
            await memberships.add_member(
                conn, org_id=invitation.org_id, user_id=user_id, role=invitation.role
            )
            await store.mark_accepted(conn, invitation.id, user_id=user_id, now=now)
            await accounts.audit(
                conn,
                org_id=invitation.org_id,
                actor_id=user_id,
                action="invitation.accepted",
                target_type="invitation",
                target_id=str(invitation.id),
                client_ip=caller_ip(request),
                details={"role": invitation.role},
            )
            principal = Principal(user_id=user_id, org_id=invitation.org_id)
            tokens = await issue_tokens(conn, ctx, principal)
    except IntegrityError:
        raise Conflict("an account with this email was created meanwhile; log in") from None
    forget_org(ctx, invitation.org_id)
    ctx.auth.forget_user(user_id)
    out = {"user_id": str(user_id), "org_id": str(invitation.org_id), **tokens}
    return json_response(out)
