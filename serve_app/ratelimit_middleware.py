"""The pure-ASGI middleware that applies the per-user rate limit to every request.

Pure ASGI rather than a dependency so that every limited response carries the
`RateLimit-*` headers, including 401s, 404s of unknown paths and validation
errors, and so that an over-limit caller costs no routing or body parsing.

The subject is the user behind a bearer (JWT or API token: both count against
the same user), else the client IP. Finding it never touches the database (see
`Authenticator.rate_limit_subject`), so refused requests cost one Redis call.

The client IP is known only from `X-Forwarded-For`, and only when a load balancer
we trust wrote it (`trust_forwarded_for`): a replica's TCP peer is always Serve's
own HAProxy (loopback, or another node's address in a cluster), never the caller,
and Ray's HAProxy neither adds nor removes the header. An anonymous request whose
caller is unknown is not rate limited at all: one bucket for the proxy's address
would let a single client exhaust it for every anonymous caller (every login, every
web UI load). Per-account login lockouts still apply (`routes.auth`).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.client_address import client_ip
from serve_app.context import AppContext, bearer_of, installed_context
from serve_app.problems import problem
from serve_app.ratelimit import Decision

#: Liveness and readiness probes come from load balancers, not users.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = installed_context()
        if (
            scope["type"] != "http"
            or scope["path"] in EXEMPT_PATHS
            or ctx is None
            or ctx.rate_limiter is None
        ):
            await self.app(scope, receive, send)
            return
        subject = self._subject(ctx, scope)
        if subject is None:
            await self.app(scope, receive, send)
            return
        decision = await ctx.rate_limiter.hit(subject)
        if not decision.allowed:
            await self._refuse(decision)(scope, receive, send)
            return
        extra = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _subject(ctx: AppContext, scope: Scope) -> str | None:
        """`user:<id>`, `ip:<address>`, or None for an anonymous caller of unknown
        address (not limited: see the module docstring)."""
        bearer = bearer_of(scope)
        user_id = ctx.auth.rate_limit_subject(bearer) if bearer is not None else None
        if user_id is not None:
            return f"user:{user_id}"
        ip = client_ip(
            scope,
            trust_forwarded_for=ctx.config.trust_forwarded_for,
            hops=ctx.config.forwarded_for_hops,
        )
        return f"ip:{ip}" if ip is not None else None

    @staticmethod
    def _refuse(decision: Decision) -> Response:
        headers = {k.decode(): v.decode() for k, v in decision.headers()}
        return problem(
            429,
            "Too many requests",
            f"rate limit of {decision.limit} requests per minute exceeded; "
            f"retry in {decision.retry_after_s} s",
            headers=headers,
            retry_after=decision.retry_after_s,
        )
