"""The FastAPI application and its Ray Serve deployment.

`app` is built at import so Serve's ingress can wrap it; each replica attaches its
own resources (`AppContext`) in the deployment's constructor.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from ray import serve
from starlette.types import ASGIApp, Receive, Scope, Send

from actors.router import HostConfig, HostRouter, ensure_hosts
from serve_app import problems
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.context import AppContext, get_ctx, install_context
from serve_app.direct_lane import DirectLane
from serve_app.metrics import MetricsMiddleware
from serve_app.metrics import router as metrics_router
from serve_app.ratelimit import LoginPolicy, LoginThrottle, RateLimiter
from serve_app.ratelimit_middleware import RateLimitMiddleware
from serve_app.replica_server import configure_server
from serve_app.request_id import RequestIdMiddleware
from serve_app.routes import api_tokens, auth, health, projects, tasks, users, ws
from serve_app.routes import attachments as attachment_routes
from serve_app.routes import audit as audit_routes
from serve_app.routes import automation as automation_routes
from serve_app.routes import comments as comment_routes
from serve_app.routes import dashboard as dashboard_routes
from serve_app.routes import fields as field_routes
from serve_app.routes import identity as identity_routes
from serve_app.routes import imports as import_routes
from serve_app.routes import notifications as notification_routes
from serve_app.routes import planning as planning_routes
from serve_app.routes import reports as report_routes
from serve_app.routes import search as search_routes
from serve_app.routes import views as view_routes
from serve_app.routes import web as web_routes
from serve_app.routes import webhooks as webhook_routes
from serve_app.security import SigningKeys
from serve_app.task_refs import RefCache
from serve_app.tracing import TracingMiddleware
from serve_app.uploads import BoundedUploadBody
from storage import tracing
from storage.breaker import fast_redis
from storage.db import create_engine

log = logging.getLogger(__name__)


class TaskhiveAPI(FastAPI):
    """FastAPI with Taskhive's own middlewares outermost.

    `add_middleware` puts a middleware inside FastAPI's error layers (server
    errors, exception telemetry, body limit), so every request, the direct lane's
    too, went through those three frames and their `send` wrappers before reaching
    ours. Here the stack is, from the outside in: the upload bound, the request id,
    tracing, metrics, the rate limit, the direct lane, then FastAPI's own stack
    (error handling, exception handlers, routing). The lane answers its requests,
    errors included (`DirectLane._take`), without entering FastAPI at all; every
    other request meets FastAPI's layers as before, and a 500 they produce now
    carries the request id and is counted under its status."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        for layer in (
            DirectLane,
            RateLimitMiddleware,
            MetricsMiddleware,  # outside the limiter: it counts 429s
            TracingMiddleware,  # inside RequestIdMiddleware: spans carry the id
            RequestIdMiddleware,
            BoundedUploadBody,  # outermost: before anything awaits
        ):
            stack = layer(stack)
        return stack


def build_app() -> FastAPI:
    app = TaskhiveAPI(
        title="Taskhive",
        version="0.1.0",
        description="A self-hostable, real-time task tracker.",
        default_response_class=ORJSONResponse,
        # FastAPI's own OpenTelemetry instrumentation looked up the global tracer,
        # meter and logger providers (environment reads included) on every request:
        # 4.6 % of the replica's CPU. Taskhive's spans come from TracingMiddleware.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    problems.install(app)
    # Routing tries routes in order: the busiest go first (task reads and writes, the
    # board, the inbox, search, comments). `tests/unit/test_route_order.py` checks
    # that no route takes another's paths, whatever the order.
    app.include_router(tasks.router)
    app.include_router(planning_routes.router)
    app.include_router(notification_routes.router)
    app.include_router(search_routes.router)
    app.include_router(comment_routes.task_router)
    for module in (health, auth, users, projects, ws):
        app.include_router(module.router)
    app.include_router(notification_routes.settings_router)
    app.include_router(audit_routes.router)
    app.include_router(comment_routes.router)
    app.include_router(attachment_routes.task_router)
    app.include_router(attachment_routes.router)
    app.include_router(api_tokens.router)
    app.include_router(identity_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(import_routes.router)
    app.include_router(field_routes.router)
    app.include_router(automation_routes.router)
    app.include_router(report_routes.router)
    app.include_router(dashboard_routes.router)
    app.include_router(metrics_router)
    app.include_router(view_routes.router)
    # The web UI's catch-all goes last, after every API router, so API routes win.
    app.include_router(web_routes.router)
    return app


app = build_app()


def make_context(config: AppConfig) -> AppContext:
    tracing.configure("taskhive-api")  # off unless TASKHIVE_OTLP_ENDPOINT is set
    hosts = HostConfig(
        count=config.hosts,
        database_url=config.database_url,
        redis_url=config.redis_url,
        idle_seconds=config.idle_seconds,
        pool_size=config.db_pool_size,
    )
    handles = ensure_hosts(hosts)
    if not config.trust_forwarded_for:
        log.info(
            "client addresses unknown (TASKHIVE_TRUST_FORWARDED_FOR is off): anonymous "
            "requests are not rate limited per IP and failed logins lock accounts only"
        )
    # Twice the configured pool and no overflow: a connection opened past the pool
    # is closed when handed back, so bursts of concurrent requests each paid a new
    # PostgreSQL backend (hundreds a second under load); now they wait their turn.
    engine = create_engine(config.database_url, pool_size=2 * config.db_pool_size, max_overflow=0)
    # The limiters get their own client with short timeouts: a hung Redis must
    # delay a request by at most half a second before the check fails open.
    limits = fast_redis(config.redis_url, 0.5) if config.redis_url else None
    return AppContext(
        config=config,
        engine=engine,
        # Short limits, no retries: a dead Redis costs live features, never a request.
        redis=fast_redis(config.redis_url) if config.redis_url else None,
        router=HostRouter(handles, hosts),
        auth=Authenticator(engine, secret=signing_keys(config), ttl_s=config.auth_cache_s),
        rate_limiter=RateLimiter(limits, limit=config.rate_limit_per_min) if limits else None,
        login_throttle=LoginThrottle(limits, _login_policy(config)) if limits else None,
        task_refs=RefCache(config.task_ref_cache_entries),
    )


def signing_keys(config: AppConfig) -> SigningKeys:
    """EdDSA with the configured private key, else HS256 with the shared secret."""
    if config.jwt_private_key:
        return SigningKeys.ed25519(config.jwt_private_key)
    return SigningKeys.shared(config.jwt_secret)


def _login_policy(config: AppConfig) -> LoginPolicy:
    return LoginPolicy(
        account_free_failures=config.login_account_free_failures,
        ip_free_failures=config.login_ip_free_failures,
        lock_base_s=config.login_lock_base_s,
        lock_max_s=config.login_lock_max_s,
        window_s=config.login_failure_window_s,
    )


class _Ingress:
    """The app as a Serve deployment's ingress, its FastAPI routes hidden from Serve.

    Given a FastAPI app, a replica names every request's route itself, for its own
    metrics, by trying the app's routes in turn: 4 % of the API replica's CPU on
    task reads, for Ray metrics that Taskhive turns off (`cluster.stack.SERVE_ENV`).
    Taskhive's own metrics name routes without another match (`serve_app.metrics`).
    Mounted below a route prefix, the app routes on the path after it (Serve sets
    the prefix as `root_path`), as a FastAPI ingress does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _AtRoot(_Ingress):
    """An ingress that routes on the whole path, whatever its route prefix: the
    realtime deployment serves `/api/v1/ws` from a prefix of that name, and
    Starlette would otherwise route on the path after it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and scope.get("root_path"):
            scope = {**scope, "root_path": ""}
        await self.app(scope, receive, send)


_REPLICA_OPTIONS: dict[str, Any] = {
    "ray_actor_options": {"num_cpus": 0},
    # Serve counts every open websocket as an ongoing request for as long as it
    # lives; a low cap would let long-lived sessions starve HTTP requests.
    "max_ongoing_requests": 20_000,
    "health_check_period_s": 10,
    "graceful_shutdown_timeout_s": 10,
    # Serve builds an access-log record per request even with the access log off,
    # unless its replica logger is above INFO (our own loggers are configured apart).
    "logging_config": {"enable_access_log": False, "log_level": "WARNING"},
}


class _Replica:
    """What every replica of the app does: its resources (`AppContext`)."""

    def __init__(self, config: AppConfig) -> None:
        # Serve starts this replica's HTTP server after the constructor returns.
        configure_server(compression=config.ws_compression)
        install_context(make_context(config))

    async def __del__(self) -> None:
        ctx = await get_ctx()
        install_context(None)
        await ctx.task_resolver.close()
        await ctx.engine.dispose()
        if ctx.redis is not None:
            await ctx.redis.aclose()
        if ctx.rate_limiter is not None:  # its client is the login throttle's too
            await ctx.rate_limiter.close()
            await ctx.rate_limiter.redis.aclose()


@serve.deployment(name="api", **_REPLICA_OPTIONS)
@serve.ingress(_Ingress(app))
class ApiIngress(_Replica):
    """One Serve replica of the HTTP API."""


#: Where the realtime deployment is mounted (its Serve application's route prefix).
REALTIME_PREFIX = "/api/v1/ws"


@serve.deployment(name="realtime", **_REPLICA_OPTIONS)
@serve.ingress(_AtRoot(app))
class RealtimeIngress(_Replica):
    """One Serve replica of the websocket sessions, apart from the HTTP API's: the
    fan-out's frames (one per session and event) no longer share an event loop with
    the API's requests, and each side scales by its own replica count."""
