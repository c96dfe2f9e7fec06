"""Pure parts of identity: token formats, the auth cache, client IPs, limit headers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from uuid import uuid4

import jwt
import pytest

from domain.errors import Forbidden, TooManyRequests, Unauthenticated
from serve_app.authn import TtlCache
from serve_app.client_address import client_ip
from serve_app.context import bearer_of
from serve_app.ratelimit import Decision
from serve_app.security import (
    AUDIENCE,
    ISSUER,
    Principal,
    hash_token,
    is_api_token,
    issue_access_token,
    new_api_token,
    verify_access_token,
)

SECRET = "unit-test-secret-" + "s" * 64


def test_api_tokens_are_prefixed_random_and_hashed() -> None:
    (a, a_hash), (b, _) = new_api_token(), new_api_token()
    assert a.startswith("thp_") and is_api_token(a) and a != b
    assert len(a) == 4 + 43
    assert a_hash == hash_token(a) and len(a_hash) == 64 and a not in a_hash
    assert not is_api_token("eyJhbGciOiJIUzI1NiJ9.e30.x")


def test_issued_at_is_fractional_so_same_second_changes_compare() -> None:
    before = datetime.now(UTC).timestamp()
    token = issue_access_token(Principal(uuid4(), uuid4()), secret=SECRET, ttl_s=60)
    claims = verify_access_token(token, secret=SECRET)
    assert before <= claims.issued_at <= datetime.now(UTC).timestamp()
    assert claims.principal.scopes == frozenset({"read", "write", "admin"})


def test_principal_identity_ignores_scopes() -> None:
    user, org = uuid4(), uuid4()
    assert Principal(user, org) == Principal(user, org, scopes=frozenset({"read"}))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_only_hs256_is_accepted(alg: str) -> None:
    now = int(time.time())
    claims = {
        "sub": str(uuid4()),
        "org": str(uuid4()),
        "iat": now,
        "exp": now + 60,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    with pytest.raises(Unauthenticated):
        verify_access_token(jwt.encode(claims, SECRET, algorithm=alg), secret=SECRET)


def test_not_before_in_the_future_is_refused() -> None:
    now = int(time.time())
    claims = {
        "sub": str(uuid4()),
        "org": str(uuid4()),
        "iat": now,
        "nbf": now + 300,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    with pytest.raises(Unauthenticated):
        verify_access_token(jwt.encode(claims, SECRET, algorithm="HS256"), secret=SECRET)


def test_ttl_cache_expires_bounds_and_forgets(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("serve_app.authn.time.monotonic", lambda: clock[0])
    cache: TtlCache[str, int | None] = TtlCache(ttl_s=5, capacity=2)
    cache.put("a", None)
    assert cache.lookup("a") == (None,)  # a cached "no"
    assert cache.lookup("b") is None  # not cached
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.lookup("a") is None  # evicted, least recently used
    clock[0] += 5
    assert cache.lookup("b") is None  # expired
    cache.put("x1", 1)
    cache.put("y1", 1)
    cache.discard_where(lambda k: k.startswith("x"))
    assert cache.lookup("x1") is None and cache.lookup("y1") == (1,)


def test_zero_ttl_caches_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl_s=0)
    cache.put("a", 1)
    assert cache.lookup("a") is None


def _scope(client: str | None, *headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "client": (client, 1234) if client else None, "headers": list(headers)}


def test_client_ip_trusts_forwarded_for_only_when_told() -> None:
    scope = _scope("127.0.0.1", (b"x-forwarded-for", b"6.6.6.6, 203.0.113.9"))
    # the peer is Serve's own proxy, never the caller: unknown unless trusted
    assert client_ip(scope, trust_forwarded_for=False) is None
    assert client_ip(_scope("10.1.1.1"), trust_forwarded_for=False) is None
    # the last entry is the one our balancer appended; earlier ones are client-controlled
    assert client_ip(scope, trust_forwarded_for=True) == "203.0.113.9"
    # a balancer that appends its own address after the client's: two hops
    assert client_ip(scope, trust_forwarded_for=True, hops=2) == "6.6.6.6"


def test_client_ip_is_unknown_without_a_usable_forwarded_entry() -> None:
    # trusted, but the request did not come through the balancer: not the peer either
    assert client_ip(_scope("10.1.1.1"), trust_forwarded_for=True) is None
    one = _scope("10.1.1.1", (b"x-forwarded-for", b"203.0.113.9"))
    assert client_ip(one, trust_forwarded_for=True, hops=2) is None
    bogus = _scope("10.1.1.1", (b"x-forwarded-for", b"1.2.3.4, not-an-ip"))
    assert client_ip(bogus, trust_forwarded_for=True) is None
    assert client_ip(_scope(None), trust_forwarded_for=True) is None


def test_client_ip_reads_repeated_headers_as_one_list() -> None:
    scope = _scope(
        "10.1.1.1",
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"x-forwarded-for", b"2001:DB8::1"),
    )
    assert client_ip(scope, trust_forwarded_for=True) == "2001:db8::1"
    assert client_ip(scope, trust_forwarded_for=True, hops=2) == "6.6.6.6"


def test_bearer_extraction() -> None:
    assert bearer_of(_scope("1.1.1.1", (b"authorization", b"Bearer abc"))) == "abc"
    assert bearer_of(_scope("1.1.1.1", (b"authorization", b"bearer  abc "))) == "abc"
    assert bearer_of(_scope("1.1.1.1", (b"authorization", b"Basic abc"))) is None
    assert bearer_of(_scope("1.1.1.1", (b"authorization", b"Bearer"))) is None
    assert bearer_of(_scope("1.1.1.1")) is None


def test_decision_headers() -> None:
    ok = Decision(allowed=True, limit=10, remaining=3, retry_after_s=0, reset_s=42)
    assert dict(ok.headers()) == {
        b"ratelimit-limit": b"10",
        b"ratelimit-remaining": b"3",
        b"ratelimit-reset": b"42",
    }
    no = Decision(allowed=False, limit=10, remaining=0, retry_after_s=6, reset_s=60)
    assert dict(no.headers())[b"retry-after"] == b"6"


def test_new_errors_map_to_403_and_429_and_pickle() -> None:
    import pickle

    assert Forbidden("x").status == 403
    err = pickle.loads(pickle.dumps(TooManyRequests("slow down", 7)))
    assert (err.status, err.retry_after, err.as_json()["retry_after"]) == (429, 7, 7)


async def test_ttl_cache_loads_a_missing_value_once_for_everyone_waiting() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl_s=5)
    loads = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await release.wait()
        return 7

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [7] * 20
    assert loads == 1 and cache.lookup("k") == (7,)
    assert await cache.get("k", load) == 7 and loads == 1  # cached now


async def test_ttl_cache_waiters_share_an_error_but_not_a_cancellation() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl_s=5)
    release = asyncio.Event()
    calls = 0

    async def failing() -> int:
        await release.wait()
        raise RuntimeError("database down")

    async def slow() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return calls

    first = [asyncio.create_task(cache.get("e", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*first, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.lookup("e") is None  # nothing cached from a failure

    release.clear()
    leader = asyncio.create_task(cache.get("c", slow))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache.get("c", slow))
    await asyncio.sleep(0)
    leader.cancel()  # the request that was loading went away
    await asyncio.sleep(0)
    release.set()
    assert await follower == 2  # it loaded the value itself
    assert leader.cancelled() and calls == 2


async def test_ttl_cache_does_not_keep_a_value_loaded_across_a_discard() -> None:
    cache: TtlCache[tuple[str, int], str] = TtlCache(ttl_s=5)
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "before the change"

    loading = asyncio.create_task(cache.get(("user", 1), load))
    await asyncio.sleep(0)
    cache.discard_where(lambda key: key[0] == "user")  # e.g. the password changed
    release.set()
    assert await loading == "before the change"  # the request that read it gets it
    assert cache.lookup(("user", 1)) is None  # but it is not kept for others
