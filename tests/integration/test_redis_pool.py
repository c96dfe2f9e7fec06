"""`fast_redis` under a burst: more concurrent calls than its pool has connections
wait their turn (bounded by the time limit) instead of failing at once, so a burst
of requests is not mistaken for a Redis outage (rate limits failing open, the
breaker opening on a healthy Redis)."""

from __future__ import annotations

import asyncio

from storage.breaker import REDIS_MAX_CONNECTIONS, fast_redis


async def test_a_burst_beyond_the_pool_waits_instead_of_failing(redis_url: str) -> None:
    client = fast_redis(redis_url)
    try:
        burst = REDIS_MAX_CONNECTIONS + 150  # also above redis-py's default pool of 100
        answers = await asyncio.gather(
            *(client.ping() for _ in range(burst)), return_exceptions=True
        )
        assert [a for a in answers if a is not True] == []
        assert len(client.connection_pool._in_use_connections) == 0
    finally:
        await client.aclose()
