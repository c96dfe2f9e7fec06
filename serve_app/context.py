"""Per-replica resources and the typed dependencies routes take.

Routes declare what they need (`ctx: Ctx`, `principal: CurrentPrincipal`) and
never reach into the request for it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from actors.router import HostRouter
from domain.errors import Forbidden, Unauthenticated
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.ratelimit import LoginThrottle, RateLimiter
from serve_app.security import Principal
from serve_app.task_refs import RefCache, RefResolver
from storage.db import autocommit


@dataclass(slots=True)
class AppContext:
    """A replica's resources.

    `engine` opens a transaction for whatever runs on its connections (BEGIN
    before the first statement, ROLLBACK or COMMIT at the end). `reads` is the
    same pool in autocommit: no BEGIN/ROLLBACK round trips. Use `reads` for a
    read that is one statement, or whose statements need not agree with each
    other; writes, locking reads and reads whose statements belong together (a
    page and its total) take `engine`. (At PostgreSQL's default READ COMMITTED a
    transaction's statements do not share one snapshot either; reads that must,
    need REPEATABLE READ.)
    """

    config: AppConfig
    engine: AsyncEngine
    redis: aioredis.Redis | None
    router: HostRouter
    auth: Authenticator
    # None without Redis: nothing is limited (a single dev process).
    rate_limiter: RateLimiter | None = None
    login_throttle: LoginThrottle | None = None
    task_refs: RefCache = field(default_factory=RefCache)
    reads: AsyncEngine = field(init=False)
    task_resolver: RefResolver = field(init=False)  # what `task_refs` misses

    def __post_init__(self) -> None:
        self.reads = autocommit(self.engine)
        self.task_resolver = RefResolver(self.engine, cache=self.task_refs)


_context: AppContext | None = None


def install_context(ctx: AppContext | None) -> None:
    """Attach this process's resources (one API replica per process)."""
    global _context
    _context = ctx


def installed_context() -> AppContext | None:
    """This process's resources, None before the replica installed them (middleware)."""
    return _context


async def get_ctx() -> AppContext:
    # Async on purpose: FastAPI runs sync dependencies in a thread pool.
    if _context is None:
        raise RuntimeError("the API context is not installed in this process")
    return _context


Ctx = Annotated[AppContext, Depends(get_ctx)]

_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def current_principal(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind an access token (JWT) or a personal API token (`thp_…`).

    The one place scopes are enforced for every route: a credential without the
    `write` scope may only use safe methods (403 otherwise). Routes that manage
    credentials additionally take `AdminPrincipal`.
    """
    return await principal_for(
        ctx, request.method, credentials.credentials if credentials is not None else None
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header value, as `HTTPBearer` reads it."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if authorization and token and scheme.lower() == "bearer" else None


def bearer_of(scope: Scope) -> str | None:
    """The bearer token of a request's `Authorization` header, from its ASGI scope."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


async def principal_for(ctx: AppContext, method: str, token: str | None) -> Principal:
    """`current_principal` for a bearer token already taken from its header."""
    if token is None:
        raise Unauthenticated("missing bearer token")
    principal = await ctx.auth.authenticate(token)
    if method not in _SAFE_METHODS and not principal.scopes & {"write", "admin"}:
        raise Forbidden("this token is read-only: its scopes do not include write")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    """The caller, who must hold the `admin` scope (a login session always does)."""
    if "admin" not in principal.scopes:
        raise Forbidden("managing credentials needs a token with the admin scope")
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
