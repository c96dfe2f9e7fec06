"""A small stack of its own for fault tests: PostgreSQL and Redis that may be killed.

The suite's servers are shared and must never be stopped, so a fault test gets
an embedded PostgreSQL and Redis on ports of its own, a real `ProjectHost` Ray
actor (unnamed, on the suite's Ray) using them, and the real FastAPI app served
in this process over ASGI with a context pointing at them. Only the transport
differs from production (no Serve, no HAProxy); every request still goes app →
Ray actor → grain → PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import ray
from ray.actor import ActorHandle

import serve_app.app as api
from actors.host import ProjectHost
from serve_app.config import AppConfig
from serve_app.context import install_context
from storage.embedded import EmbeddedPostgres, EmbeddedRedis
from storage.migrate import upgrade
from tests.integration.conftest import free_port
from tests.stack_fixtures import JWT_SECRET


@dataclass
class FaultStack:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    database_url: str
    redis_url: str
    host: ActorHandle[ProjectHost]
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def fault_stack(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FaultStack]:
    postgres = EmbeddedPostgres(tmp / "postgres", port=free_port())
    redis = EmbeddedRedis(tmp / "redis", port=free_port())
    database_url = await asyncio.to_thread(postgres.start)
    redis_url = await asyncio.to_thread(redis.start)
    await asyncio.to_thread(upgrade, database_url)
    name = f"fault-host-{uuid.uuid4().hex[:8]}"
    host: ActorHandle[ProjectHost] = (
        ray.remote(ProjectHost)  # type: ignore[assignment]  # `.remote()` makes a handle
        .options(max_restarts=-1, max_task_retries=0, max_concurrency=1000, num_cpus=0)
        .remote(name, database_url, redis_url, idle_seconds=600, pool_size=5)
    )
    monkeypatch.setattr(api, "ensure_hosts", lambda _config: {name: host})
    config = AppConfig(
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=JWT_SECRET,
        hosts=1,
        db_pool_size=5,
        rate_limit_per_min=1_000_000,
        auth_cache_s=0.5,
    )
    ctx = api.make_context(config)
    install_context(ctx)
    transport = httpx.ASGITransport(app=api.app)
    client = httpx.AsyncClient(transport=transport, base_url="http://taskhive.test", timeout=30)
    try:
        yield FaultStack(postgres, redis, database_url, redis_url, host, client)
    finally:
        await client.aclose()
        install_context(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(host.close.remote(), 10)
        ray.kill(host)
        await ctx.engine.dispose()
        for r in (ctx.redis, ctx.rate_limiter.redis if ctx.rate_limiter else None):
            if r is not None:
                with contextlib.suppress(Exception):
                    await r.aclose()
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(postgres.stop)


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float, what: str
) -> float:
    """Poll until `predicate` holds; the seconds it took. Fails after `timeout`."""
    started = time.monotonic()
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)
