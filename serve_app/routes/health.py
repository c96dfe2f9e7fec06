"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import text

from serve_app.context import Ctx
from serve_app.problems import problem
from serve_app.responses import json_response

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up and serving HTTP."""
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(ctx: Ctx) -> Response:
    """PostgreSQL, Redis and the project hosts all answer within a few seconds."""

    async def database() -> None:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def cache() -> None:
        if ctx.redis is not None:
            await ctx.redis.ping()

    async def hosts() -> None:
        await ctx.router.all_hosts("stats")

    checks = {"database": database, "redis": cache, "ray": hosts}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            results[name] = f"error: {type(exc).__name__}"
    if all(v == "ok" for v in results.values()):
        return json_response({"status": "ready", "checks": results})
    failing = ", ".join(k for k, v in results.items() if v != "ok")
    return problem(503, "Service unavailable", f"not ready: {failing}", checks=results)
