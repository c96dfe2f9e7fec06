"""`GET /.well-known/jwks.json`: the public key access tokens are signed with, when
they are signed with EdDSA (`TASKHIVE_JWT_PRIVATE_KEY_FILE`), so other services of a
cluster can verify them. With the embedded default (HS256, a shared secret) there is
nothing to publish: 404."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from domain.errors import NotFound
from serve_app.context import Ctx
from serve_app.responses import json_response

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Ctx) -> Response:
    keys = ctx.auth.keys.jwks()
    if keys is None:
        raise NotFound("tokens are signed with a shared secret; there is no public key")
    return json_response(keys, headers={"Cache-Control": "public, max-age=300"})
