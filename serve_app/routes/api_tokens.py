"""Personal API tokens for scripts: create (the secret is shown once), list, revoke.

A token acts as its user within the organisation it was created in, limited by
its scopes (`read`: safe methods only; `write`: everything except managing
credentials; `admin`: everything). Only its SHA-256 is stored. Managing tokens
needs the `admin` scope, so a leaked `write` token cannot mint itself successors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from domain.errors import NotFound
from serve_app.auth_schemas import ApiTokenCreated, ApiTokenIn, ApiTokenList
from serve_app.client_address import caller_ip
from serve_app.context import AdminPrincipal, Ctx
from serve_app.responses import json_response
from serve_app.security import SCOPES, new_api_token
from storage import accounts, credentials

router = APIRouter(prefix="/api/v1/users/me/tokens", tags=["users"])

#: Characters of the token kept in clear to recognise it in lists: `thp_` + 6.
_SHOWN_PREFIX = 10


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "created_at": row.created_at.isoformat(),
    }


@router.post("", status_code=201, response_model=ApiTokenCreated)
async def create_token(
    body: ApiTokenIn, request: Request, principal: AdminPrincipal, ctx: Ctx
) -> Response:
    """Create a token; the response is the only time its secret is shown."""
    token, token_hash = new_api_token()
    scopes: list[str] = [s for s in SCOPES if s in body.scopes]  # canonical order, no duplicates
    expires_at = (
        datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    )
    async with ctx.engine.begin() as conn:
        row = await credentials.create_api_token(
            conn,
            user_id=principal.user_id,
            org_id=principal.org_id,
            name=body.name,
            token_hash=token_hash,
            prefix=token[:_SHOWN_PREFIX],
            scopes=scopes,
            expires_at=expires_at,
        )
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="api_token.created",
            target_type="api_token",
            target_id=str(row.id),
            client_ip=caller_ip(request),
            details={"name": body.name, "scopes": scopes},
        )
    return json_response({**_public(row), "token": token}, status=201)


@router.get("", response_model=ApiTokenList)
async def list_tokens(principal: AdminPrincipal, ctx: Ctx) -> Response:
    """The caller's tokens in this organisation, newest first, without secrets."""
    async with ctx.engine.connect() as conn:
        rows = await credentials.list_api_tokens(
            conn, user_id=principal.user_id, org_id=principal.org_id
        )
    return json_response({"items": [_public(r) for r in rows]})


@router.delete("/{token_id}", status_code=204)
async def delete_token(
    token_id: UUID, request: Request, principal: AdminPrincipal, ctx: Ctx
) -> Response:
    """Revoke a token at once on this replica, within `auth_cache_s` on the others.
    404 if it is not the caller's."""
    async with ctx.engine.begin() as conn:
        token_hash = await credentials.revoke_api_token(
            conn, token_id=token_id, user_id=principal.user_id, org_id=principal.org_id
        )
        if token_hash is None:
            raise NotFound("API token not found")
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="api_token.revoked",
            target_type="api_token",
            target_id=str(token_id),
            client_ip=caller_ip(request),
        )
    ctx.auth.forget_api_token(token_hash)
    return Response(status_code=204)
