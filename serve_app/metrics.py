"""`GET /metrics` for Prometheus: the whole deployment's metrics from any replica.

Taskhive's metrics are recorded in several processes (`storage.telemetry`): API
replicas (HTTP latency, websockets, fan-out lag, rate limits), project hosts
(mailboxes, group commits, grains) and the outbox relay (consumer lag, email
queue). Whichever replica HAProxy sends the scrape to answers for all of them:

* project hosts and the relay are asked with one cheap Ray call each
  (`metrics()`, a snapshot of their registry), bounded by `SOURCE_TIMEOUT_S`;
* replicas cannot be addressed one by one behind HAProxy, so each pushes its
  snapshot to Redis every `PUSH_S` seconds (expiring after `PUSH_TTL_S`) and the
  answering replica adds the others' latest snapshots to its own live one.

Every series gets a `source` label naming its process, so counters of different
processes never mix. Ray's own `ray.util.metrics` was not used: it exports
through each node's metrics agent on a separate port that Prometheus must
discover per node, while operators here scrape one URL.

With `metrics_token` configured a scrape must present it as a bearer token
(Prometheus' `authorization` setting); otherwise 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import time
from collections.abc import Iterable
from typing import Any

import orjson
import ray
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.utils import floatToGoString
from ray.exceptions import ActorDiedError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.outbox import ACTOR_NAME as OUTBOX_ACTOR
from actors.outbox import NAMESPACE
from actors.router import HostRouter
from domain.errors import Unauthenticated
from serve_app.context import AppContext, get_ctx, installed_context
from storage import telemetry
from storage.breaker import DependencyUnavailable, breaker

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SOURCE_TIMEOUT_S = 2.0
PUSH_S = 5.0
PUSH_TTL_S = 30
_KEY_PREFIX = "taskhive:metrics:"
SOURCE = f"replica-{socket.gethostname()}-{os.getpid()}"


# -- recording ---------------------------------------------------------------------


class MetricsMiddleware:
    """Times every HTTP request by route template (not path: ids would explode the
    series), method and status. Requests no route matched count as `unmatched`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._pusher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._pusher is None and scope["type"] != "lifespan":
            # On the first request or websocket: a realtime replica never sees HTTP.
            self._pusher = asyncio.create_task(_push_forever(), name="metrics-push")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            telemetry.HTTP_REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
            if status == 429:
                telemetry.RATE_LIMIT_REJECTIONS.labels(_limit_kind(template)).inc()


def _limit_kind(route: str) -> str:
    return "login" if route.startswith("/api/v1/auth/") else "requests"


async def _push_forever() -> None:
    """Publish this replica's snapshot for the other replicas' `/metrics`."""
    while True:
        ctx = installed_context()
        if ctx is not None and ctx.redis is not None:
            with contextlib.suppress(Exception):  # best effort: a scrape misses one replica
                payload = orjson.dumps(telemetry.snapshot())
                await breaker("redis").call(
                    ctx.redis.set(_KEY_PREFIX + SOURCE, payload, ex=PUSH_TTL_S)
                )
        await asyncio.sleep(PUSH_S)


# -- collecting ----------------------------------------------------------------------


async def _other_replicas(ctx: AppContext) -> dict[str, list[telemetry.Family]]:
    redis = ctx.redis
    if redis is None:
        return {}

    async def read() -> dict[str, list[telemetry.Family]]:
        keys = [k async for k in redis.scan_iter(match=_KEY_PREFIX + "*", count=100)]
        keys = [k for k in keys if k.decode() != _KEY_PREFIX + SOURCE]
        values = await redis.mget(keys) if keys else []
        return {
            k.decode()[len(_KEY_PREFIX) :]: orjson.loads(v)
            for k, v in zip(keys, values, strict=True)
            if v is not None
        }

    try:
        return await breaker("redis").call(read(), timeout_s=SOURCE_TIMEOUT_S)
    except DependencyUnavailable:
        return {}


async def _actor_snapshot(
    name: str, handle: Any, router: HostRouter | None = None
) -> tuple[str, list[telemetry.Family] | None]:
    try:
        return name, await asyncio.wait_for(handle.metrics.remote(), SOURCE_TIMEOUT_S)
    except Exception as exc:  # a restarting actor: its series are missing from this scrape
        log.warning("metrics of %s unavailable (%s)", name, type(exc).__name__)
        if router is not None and isinstance(exc, ActorDiedError):
            await router.refresh(name)  # moved to another node: the next scrape finds it
        return name, None


async def collect(ctx: AppContext) -> dict[str, list[telemetry.Family]]:
    """Snapshots of every process, by source name."""
    calls = [_actor_snapshot(name, h, ctx.router) for name, h in ctx.router.handles.items()]
    with contextlib.suppress(ValueError):
        calls.append(_actor_snapshot(OUTBOX_ACTOR, ray.get_actor(OUTBOX_ACTOR, NAMESPACE)))
    replicas, actors = await asyncio.gather(_other_replicas(ctx), asyncio.gather(*calls))
    sources: dict[str, list[telemetry.Family]] = {SOURCE: telemetry.snapshot()}
    sources.update(replicas)
    sources.update({name: families for name, families in actors if families is not None})
    return sources


# -- rendering -----------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(sources: dict[str, list[telemetry.Family]]) -> bytes:
    """Prometheus text format (0.0.4): each family once, every sample labelled with
    its `source`."""
    families: dict[str, dict[str, Any]] = {}
    lines: dict[str, list[str]] = {}
    for source, snapshot in sorted(sources.items()):
        for family in snapshot:
            name = family["name"]
            families.setdefault(name, family)
            out = lines.setdefault(name, [])
            for sample_name, labels, value in family["samples"]:
                out.append(_sample_line(sample_name, {"source": source, **labels}, value))
    text: list[str] = []
    for name, family in families.items():
        text.append(f"# HELP {name} {_escape(family['help'])}")
        text.append(f"# TYPE {name} {family['type']}")
        text.extend(lines[name])
    return ("\n".join(text) + "\n").encode()


def _sample_line(name: str, labels: dict[str, str], value: float) -> str:
    pairs: Iterable[str] = (f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return f"{name}{{{','.join(pairs)}}} {floatToGoString(value)}"  # type: ignore[no-untyped-call]


def scrape_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether a request with this `Authorization` header may read the metrics:
    any when no token is configured, else only `Bearer <token>`. The comparison
    takes the same time wherever a guess goes wrong, and whatever its length
    (both sides are hashed first)."""
    if token is None:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    digest = hashlib.sha256(given.strip().encode()).digest()
    return hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Every process's metrics in Prometheus' text format. Keep the path internal at
    the ingress either way; set `TASKHIVE_METRICS_TOKEN` to require a bearer token
    (docs/deploy.md)."""
    ctx = await get_ctx()
    if not scrape_allowed(request.headers.get("authorization"), ctx.config.metrics_token):
        raise Unauthenticated("/metrics needs the bearer token set in TASKHIVE_METRICS_TOKEN")
    return Response(render(await collect(ctx)), media_type=CONTENT_TYPE)
