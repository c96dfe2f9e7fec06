"""Rate limits and login lockouts against the real Redis, and over HTTP.

The session stack allows 100,000 requests a minute (so the suite never trips it);
the tight limits are exercised on the limiter classes with their own key space.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from serve_app.ratelimit import LoginPolicy, LoginThrottle, RateLimiter
from tests.integration.conftest import User, free_port, signup


@pytest.fixture
async def rds(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def _prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _redis_errors() -> float:
    return REGISTRY.get_sample_value("taskhive_rate_limit_redis_errors_total") or 0.0


async def test_limit_is_shared_by_two_replicas_and_refuses_the_excess(
    rds: aioredis.Redis, redis_url: str
) -> None:
    other = aioredis.from_url(redis_url)  # a second replica: its own client and limiter
    try:
        prefix = _prefix()
        a = RateLimiter(rds, limit=5, prefix=prefix)
        b = RateLimiter(other, limit=5, prefix=prefix)
        decisions = [await (a if i % 2 else b).hit("user:1") for i in range(7)]
    finally:
        await other.aclose()
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[-1]
    # one request every 12 s comes back: the next one in at most 12 s
    assert 1 <= refused.retry_after_s <= 12
    assert 48 <= refused.reset_s <= 60
    assert (b"retry-after", str(refused.retry_after_s).encode()) in refused.headers()
    # another subject has its own allowance
    assert (await a.hit("user:2")).allowed


async def test_allowance_comes_back_over_time(rds: aioredis.Redis) -> None:
    limiter = RateLimiter(rds, limit=4, period_s=0.4, prefix=_prefix())  # one per 100 ms
    assert all([(await limiter.hit("s")).allowed for _ in range(4)])
    assert not (await limiter.hit("s")).allowed
    await asyncio.sleep(0.25)
    assert (await limiter.hit("s")).allowed


async def test_concurrent_hits_never_exceed_the_limit(rds: aioredis.Redis) -> None:
    limiter = RateLimiter(rds, limit=20, prefix=_prefix())
    results = await asyncio.gather(*(limiter.hit("busy") for _ in range(60)))
    assert sum(d.allowed for d in results) == 20


async def test_unreachable_redis_fails_open_and_is_counted() -> None:
    dead = aioredis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    try:
        before = _redis_errors()
        decision = await RateLimiter(dead, limit=1).hit("anyone")
        throttle = LoginThrottle(dead, LoginPolicy())
        assert await throttle.locked_for("a@example.com", "10.0.0.1") == 0
        assert await throttle.failed("a@example.com", "10.0.0.1") == 0
        await throttle.succeeded("a@example.com", "10.0.0.1")
    finally:
        await dead.aclose()
    assert decision.allowed and decision.limit == 1
    assert _redis_errors() == before + 4


async def test_login_lockout_grows_exponentially_and_expires(rds: aioredis.Redis) -> None:
    policy = LoginPolicy(
        account_free_failures=2, ip_free_failures=100, lock_base_s=1, lock_max_s=2, window_s=5
    )
    throttle = LoginThrottle(rds, policy, prefix=_prefix())
    email = "victim@example.com"
    assert [await throttle.failed(email, "10.0.0.1") for _ in range(2)] == [0, 0]
    assert await throttle.failed(email, "10.0.0.2") == 1  # 3rd: base
    assert await throttle.locked_for(email.upper(), "10.9.9.9") == 1  # per account, any IP
    assert await throttle.failed(email, "10.0.0.3") == 2  # 4th: doubled
    assert await throttle.failed(email, "10.0.0.4") == 2  # capped at lock_max_s
    await asyncio.sleep(2.1)
    assert await throttle.locked_for(email, "10.0.0.1") == 0  # the lock ran out
    await throttle.succeeded(email, "10.0.0.1")
    assert await throttle.failed(email, "10.0.0.1") == 0  # and success reset the count


async def test_login_lockout_per_ip_spans_accounts(rds: aioredis.Redis) -> None:
    policy = LoginPolicy(account_free_failures=100, ip_free_failures=3, lock_base_s=5)
    throttle = LoginThrottle(rds, policy, prefix=_prefix())
    for i in range(3):
        assert await throttle.failed(f"user{i}@example.com", "192.0.2.7") == 0
    assert await throttle.failed("user9@example.com", "192.0.2.7") == 5
    assert await throttle.locked_for("fresh@example.com", "192.0.2.7") == 5
    assert await throttle.locked_for("fresh@example.com", "192.0.2.8") == 0


async def test_every_limited_response_carries_rate_limit_headers(
    client: httpx.AsyncClient, alice: User
) -> None:
    first = await client.get("/api/v1/users/me", headers=alice.headers)
    second = await client.get("/api/v1/projects", headers=alice.headers)
    missing = await client.get("/api/v1/no-such-thing", headers=alice.headers)
    for r in (first, second, missing):
        assert r.headers["ratelimit-limit"] == "100000", r.request.url
        assert int(r.headers["ratelimit-reset"]) >= 0
    assert int(first.headers["ratelimit-remaining"]) > 99_000
    # An anonymous caller of unknown address is not limited (test_behind_a_balancer.py).
    unauthenticated = await client.get("/api/v1/users/me")
    assert unauthenticated.status_code == 401
    assert "ratelimit-limit" not in unauthenticated.headers


async def test_exhausted_allowance_is_429_on_every_replica(
    client: httpx.AsyncClient, alice: User, rds: aioredis.Redis
) -> None:
    """The state lives in Redis: exhaust it there (a TAT 10 s past the full window)
    and both replicas refuse; clear it and both serve again."""
    key = f"rl:user:{alice.id}"
    seconds, micros = await rds.time()
    now_ms = seconds * 1000 + micros / 1000
    await rds.set(key, f"{now_ms + 60_000 + 10_000:.3f}", px=70_000)
    refused = [await client.get("/api/v1/projects", headers=alice.headers) for _ in range(4)]
    for r in refused:
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert 9 <= int(r.headers["retry-after"]) <= 10
        assert r.headers["ratelimit-remaining"] == "0"
        assert r.json()["status"] == 429
    # other users are unaffected
    other = await client.get("/api/v1/projects", headers=(await signup(client)).headers)
    assert other.status_code == 200
    await rds.delete(key)
    assert (await client.get("/api/v1/projects", headers=alice.headers)).status_code == 200


async def test_repeated_failed_logins_lock_the_account_with_429(
    client: httpx.AsyncClient, alice: User
) -> None:
    wrong = {"email": alice.email, "password": "not the password"}
    statuses = [(await client.post("/api/v1/auth/login", json=wrong)).status_code for _ in range(6)]
    assert statuses == [401] * 6  # 5 free failures, the 6th fails and sets a 1 s lock
    locked = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "correct horse"}
    )
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert int(locked.headers["retry-after"]) >= 1
    await asyncio.sleep(int(locked.headers["retry-after"]) + 0.2)
    ok = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "correct horse"}
    )
    assert ok.status_code == 200
