"""Organisation membership, teams, invitations, project roles, two-factor setup,
the JWKS endpoint and OpenID Connect login: one router for `serve_app.app` to include."""

from __future__ import annotations

from fastapi import APIRouter

from serve_app.routes import invitations, jwks, members, oidc, project_members, teams, totp

router = APIRouter()
for _module in (members, teams, invitations, project_members, totp, jwks, oidc):
    router.include_router(_module.router)
