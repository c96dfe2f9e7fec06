"""Client-side CPU of three things an API replica does per request, each the old
way and the new: a rate-limit check (a Redis call each, or the local budget), a
one-statement read (in a transaction, or in autocommit) and decoding a jsonb
project document (`json.loads`, or orjson).

    python -m bench.replica_ops --database-url postgresql://… --redis-url redis://…

CPU is this process's (`time.process_time`), so PostgreSQL's and Redis' own work
is not in it; each figure is the median of `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from serve_app.ratelimit import RateLimiter
from storage.db import autocommit, create_engine

SUBJECTS = 20


async def _compare(
    ways: dict[str, Callable[[], Awaitable[object]]], n: int, rounds: int
) -> dict[str, float]:
    """Median CPU microseconds per call of each way over `rounds` rounds of `n`
    calls, the ways taking turns (a busy machine then slows them alike)."""
    found: dict[str, list[float]] = {label: [] for label in ways}
    for _ in range(rounds):
        for label, op in ways.items():
            for _ in range(n // 10):
                await op()
            started = time.process_time()
            for _ in range(n):
                await op()
            found[label].append((time.process_time() - started) / n * 1e6)
    return {label: statistics.median(values) for label, values in found.items()}


async def rate_limit(redis_url: str, n: int, rounds: int) -> dict[str, float]:
    client = aioredis.from_url(redis_url)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    limiters = {
        label: RateLimiter(client, limit=100_000_000, prefix=prefix, batch=batch)
        for label, batch in (("redis call per request", 1), ("local budget", 10))
    }
    subjects = itertools.cycle([f"user:{i}" for i in range(SUBJECTS)])

    def hit(limiter: RateLimiter) -> Callable[[], Awaitable[object]]:
        return lambda: limiter.hit(next(subjects))

    try:
        return await _compare({k: hit(v) for k, v in limiters.items()}, n, rounds)
    finally:
        for limiter in limiters.values():
            await limiter.close()
        await client.aclose()


async def one_statement_read(database_url: str, n: int, rounds: int) -> dict[str, float]:
    engine = create_engine(database_url, pool_size=2)
    statement = text("SELECT 1")

    def read(target: AsyncEngine) -> Callable[[], Awaitable[object]]:
        async def once() -> object:
            async with target.connect() as conn:
                return await conn.execute(statement)

        return once

    try:
        ways = {"in a transaction": read(engine), "autocommit": read(autocommit(engine))}
        return await _compare(ways, n, rounds)
    finally:
        await engine.dispose()


def _project_document() -> str:
    fields = {
        f"f{i}": {"type": "text", "name": f"Field {i}", "options": ["a", "b", "c"]}
        for i in range(8)
    }
    statuses = [{"id": f"s{i}", "name": f"Status {i}", "category": "todo"} for i in range(6)]
    return json.dumps({"id": str(uuid.uuid4()), "fields": fields, "workflow": statuses})


async def jsonb_decode(n: int, rounds: int) -> dict[str, float]:
    doc = _project_document()

    def decode(loads: Callable[[str], object]) -> Callable[[], Awaitable[object]]:
        async def once() -> object:
            return loads(doc)

        return once

    ways = {"json.loads": decode(json.loads), "orjson.loads": decode(orjson.loads)}
    return await _compare(ways, n * 10, rounds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("-n", type=int, default=1000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    results = {
        "rate-limit check": await rate_limit(args.redis_url, args.n, args.rounds),
        "one-statement read": await one_statement_read(args.database_url, args.n, args.rounds),
        "jsonb project document": await jsonb_decode(args.n, args.rounds),
    }
    for operation, ways in results.items():
        for way, us in ways.items():
            print(f"{operation:24} {way:24} {us:8.1f} µs CPU")


if __name__ == "__main__":
    asyncio.run(main())
