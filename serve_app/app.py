"""The FastAPI application and its Ray Serve deployment.

`app` is built at import so Serve's ingress can wrap it; each replica attaches its
own resources (`AppContext`) in the deployment's constructor.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from ray import serve

from actors.router import HostConfig, HostRouter, ensure_hosts
from serve_app import problems
from serve_app.config import AppConfig
from serve_app.context import AppContext, get_ctx, install_context
from serve_app.routes import auth, health, projects, tasks, users, ws
from serve_app.routes import notifications as notification_routes
from serve_app.routes import planning as planning_routes
from storage.db import create_engine

log = logging.getLogger(__name__)


def build_app() -> FastAPI:
    app = FastAPI(
        title="Taskhive",
        version="0.1.0",
        description="A self-hostable, real-time task tracker.",
        default_response_class=ORJSONResponse,
    )
    problems.install(app)
    for module in (health, auth, users, projects, tasks, ws):
        app.include_router(module.router)
    app.include_router(notification_routes.router)
    app.include_router(notification_routes.settings_router)
    app.include_router(planning_routes.router)
    return app


app = build_app()


def make_context(config: AppConfig) -> AppContext:
    handles = ensure_hosts(
        HostConfig(
            count=config.hosts,
            database_url=config.database_url,
            redis_url=config.redis_url,
            idle_seconds=config.idle_seconds,
            pool_size=config.db_pool_size,
        )
    )
    return AppContext(
        config=config,
        engine=create_engine(config.database_url, pool_size=config.db_pool_size),
        redis=aioredis.from_url(config.redis_url) if config.redis_url else None,
        router=HostRouter(handles),
    )


@serve.deployment(
    name="api",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=1000,
    health_check_period_s=10,
    graceful_shutdown_timeout_s=10,
)
@serve.ingress(app)
class ApiIngress:
    """One Serve replica of the HTTP API."""

    def __init__(self, config: AppConfig) -> None:
        install_context(make_context(config))

    async def __del__(self) -> None:
        ctx = await get_ctx()
        install_context(None)
        await ctx.engine.dispose()
        if ctx.redis is not None:
            await ctx.redis.aclose()
