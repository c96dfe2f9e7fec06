"""Rate limits and login lockouts against the real Redis, and over HTTP.

The session stack allows 100,000 requests a minute (so the suite never trips it);
the tight limits are exercised on the limiter classes with their own key space.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from serve_app.ratelimit import Decision, LoginPolicy, LoginThrottle, RateLimiter
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


# -- the local budget: most requests of a busy subject cost no Redis call -------------


class _Calls:
    """Counts the limiter's Redis round trips (its two scripts)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.count = 0
        for name in ("_script", "_charge"):
            script = getattr(limiter, name)

            async def counted(*args: Any, _script: Any = script, **kwargs: Any) -> Any:
                self.count += 1
                return await _script(*args, **kwargs)

            setattr(limiter, name, counted)


async def _allowed(limiter: RateLimiter, subject: str, n: int) -> list[Decision]:
    return [await limiter.hit(subject) for _ in range(n)]


async def test_a_busy_subject_costs_one_redis_call_per_batch_and_every_request_is_charged(
    rds: aioredis.Redis,
) -> None:
    prefix = _prefix()
    # An hourly limit: nothing comes back while the test runs.
    hourly = partial(RateLimiter, rds, limit=1000, period_s=3600.0, prefix=prefix)
    limiter = hourly(batch=10, flush_s=60)
    calls = _Calls(limiter)
    decisions = await _allowed(limiter, "busy", 100)
    assert all(d.allowed for d in decisions)
    assert calls.count == 10  # each asks, carrying the 9 decided here before it
    # Local decisions carry the headers Redis would have given.
    assert [d.remaining for d in decisions] == list(range(999, 899, -1))
    resets = [d.reset_s for d in decisions]
    assert resets == sorted(resets) and resets[-1] == 360  # 100 requests of 3.6 s
    assert all(d.limit == 1000 for d in decisions)
    await limiter.close()
    # Redis counted every one of the 100.
    exact = hourly(batch=1)
    assert (await exact.hit("busy")).remaining == 1000 - 101


async def test_the_default_batch_is_a_hundredth_of_the_limit(rds: aioredis.Redis) -> None:
    hourly = partial(RateLimiter, rds, limit=100_000, period_s=3600.0, prefix=_prefix())
    limiter = hourly(flush_s=60)
    calls = _Calls(limiter)
    decisions = await _allowed(limiter, "token", 2500)
    assert all(d.allowed for d in decisions)
    assert calls.count == 3  # batches of 1,000: the first request, then the 1,000th, 2,000th
    await limiter.close()
    assert (await hourly(batch=1).hit("token")).remaining == 100_000 - 2501
    # A small limit keeps batches of 10: its overshoot stays a few requests.
    small = RateLimiter(rds, limit=600, prefix=_prefix(), flush_s=60)
    small_calls = _Calls(small)
    await _allowed(small, "user", 30)
    assert small_calls.count == 3
    await small.close()


async def test_uncharged_requests_are_flushed_within_flush_s(rds: aioredis.Redis) -> None:
    hourly = partial(RateLimiter, rds, limit=1000, period_s=3600.0, prefix=_prefix())
    limiter = hourly(batch=10, flush_s=0.05)
    await _allowed(limiter, "s", 5)  # one asked, four decided here
    await asyncio.sleep(0.3)
    exact = hourly(batch=1)
    assert (await exact.hit("s")).remaining == 1000 - 6
    await limiter.close()


async def test_overshoot_across_replicas_is_bounded_and_paid_back(
    rds: aioredis.Redis, redis_url: str
) -> None:
    """Replica `a` saw the subject with plenty left, then `b` used the rest: `a`
    admits at most `batch - 1` more on its stale view before Redis refuses, and
    what it admitted is charged (the subject waits longer)."""
    other = aioredis.from_url(redis_url)
    try:
        prefix = _prefix()
        slow = partial(RateLimiter, limit=60, period_s=600.0, prefix=prefix, batch=5, flush_s=60)
        a = slow(rds)
        b = slow(other)
        assert (await a.hit("u")).allowed
        by_b = await _allowed(b, "u", 70)
        assert sum(d.allowed for d in by_b) == 59  # b never overshoots on its own
        by_a = await _allowed(a, "u", 10)
        overshoot = sum(d.allowed for d in by_a)
        assert 1 <= overshoot <= 4  # (replicas - 1) * (batch - 1)
        assert not by_a[-1].allowed
        refused = by_a[-1]
        assert refused.remaining == 0
        # One request per 10 s: the overshoot is owed before the next one comes.
        assert overshoot * 10 <= refused.retry_after_s <= (overshoot + 1) * 10 + 1
        await a.close()
        await b.close()
    finally:
        await other.aclose()


async def test_a_subject_over_its_limit_is_refused_by_redis_with_its_headers(
    rds: aioredis.Redis,
) -> None:
    """Exhausted elsewhere (its TAT set 10 s past the window, as another replica's
    charges would): local admissions stop within a batch, then every request is
    Redis' refusal, with Retry-After."""
    prefix = _prefix()
    limiter = RateLimiter(rds, limit=1000, prefix=prefix, batch=10, flush_s=60)
    await _allowed(limiter, "x", 3)
    seconds, micros = await rds.time()
    now_ms = seconds * 1000 + micros / 1000
    await rds.set(f"{prefix}:x", f"{now_ms + 60_000 + 10_000:.3f}", px=70_000)
    decisions = await _allowed(limiter, "x", 12)
    assert sum(d.allowed for d in decisions) <= 9 - 2  # what was left of the batch
    refused = [d for d in decisions if not d.allowed]
    assert len(refused) >= 5
    for d in refused:
        assert d.remaining == 0
        assert 10 <= d.retry_after_s <= 11
        assert (b"retry-after", str(d.retry_after_s).encode()) in d.headers()
    await limiter.close()


async def test_redis_lost_after_a_local_budget_still_fails_open(
    redis_url: str,
) -> None:
    client = aioredis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        limiter = RateLimiter(client, limit=1000, prefix=_prefix(), batch=10, flush_s=60)
        await _allowed(limiter, "y", 3)
        # Redis goes away: the connection drops and reconnecting fails.
        client.connection_pool.connection_kwargs["port"] = free_port()
        await client.connection_pool.disconnect()
        client.connection_pool.reset()  # type: ignore[no-untyped-call]
        before = _redis_errors()
        await limiter.flush()  # the charge fails: counted, and the mirror is dropped
        assert _redis_errors() == before + 1
        decisions = await _allowed(limiter, "y", 3)  # each asks Redis and fails open
        assert all(d.allowed and d.remaining == 1000 for d in decisions)
        assert _redis_errors() == before + 4
        await limiter.close()
    finally:
        await client.aclose()
