"""Client addresses and `/metrics` behind Serve's HAProxy, end to end.

What a replica sees: its TCP peer is HAProxy whoever calls (Ray's HAProxy adds no
`X-Forwarded-For`), so per-IP limits must not use it. The session stack (no
trusted header) therefore leaves anonymous callers unlimited per IP; a second
Serve application in the same Serve (`/balanced`, one replica) is configured as
behind a load balancer: it trusts `X-Forwarded-For`, has tight per-IP limits and
a metrics token. Requests to it go through the same HAProxy.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from cluster.stack import Stack
from tests.integration.conftest import User, signup

METRICS_TOKEN = "metrics-" + uuid.uuid4().hex
PER_MIN = 6


@pytest.fixture(scope="module")
def balanced_url(stack: Stack) -> Iterator[str]:
    from ray import serve

    from serve_app.app import ApiIngress

    config = dataclasses.replace(
        stack.app_config(),
        trust_forwarded_for=True,
        metrics_token=METRICS_TOKEN,
        rate_limit_per_min=PER_MIN,
        login_ip_free_failures=3,
        login_lock_base_s=60.0,  # outlasts the test on a loaded machine
    )
    app = ApiIngress.options(num_replicas=1).bind(config)  # type: ignore[attr-defined]
    serve.run(app, name="balanced", route_prefix="/balanced", blocking=False)
    try:
        _wait_ready(f"{stack.url}/balanced/healthz")
        yield f"{stack.url}/balanced"
    finally:
        serve.delete("balanced")


def _wait_ready(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.25)


@pytest.fixture
async def balanced(balanced_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=balanced_url, timeout=30.0) as c:
        yield c


def _client_address() -> str:
    """An address no other test (or earlier run: limits live in the shared Redis) used."""
    a, b, c = uuid.uuid4().bytes[:3]
    return f"10.{a}.{b}.{c % 254 + 1}"


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def _signup_ip(db: asyncpg.Connection, user_id: str) -> str | None:
    value = await db.fetchval(
        "SELECT client_ip FROM audit_log WHERE action = 'user.signup' AND target_id = $1",
        user_id,
    )
    return None if value is None else str(value)


async def test_the_audit_log_names_the_caller_only_when_a_trusted_balancer_does(
    base_url: str, balanced: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Through HAProxy a replica's TCP peer is the proxy's address whoever calls: the
    audit log records no address rather than that one (callers on 127.0.0.2 and
    127.0.0.3, one with a header the session stack does not trust). Behind a
    trusted balancer it records the address the balancer forwarded."""
    seen = []
    for caller, headers in (("127.0.0.2", {}), ("127.0.0.3", _from("203.0.113.9"))):
        transport = httpx.AsyncHTTPTransport(local_address=caller)
        async with httpx.AsyncClient(
            base_url=base_url, transport=transport, headers=headers
        ) as via_proxy:
            seen.append(await _signup_ip(db, (await signup(via_proxy)).id))
    assert seen == [None, None]

    forwarded = _client_address()
    body = {
        "email": f"fwd-{uuid.uuid4().hex[:8]}@example.com",
        "name": "Fwd",
        "password": "correct horse",
    }
    r = await balanced.post("/api/v1/auth/signup", json=body, headers=_from(forwarded))
    assert r.status_code == 201, r.text
    assert await _signup_ip(db, r.json()["user"]["id"]) == forwarded


async def test_without_a_trusted_header_anonymous_callers_are_not_limited_per_ip(
    client: httpx.AsyncClient, alice: User
) -> None:
    """Every anonymous caller has the proxy's address: one bucket for all of them
    would let one client lock everyone out, so there is none."""
    for ip in (None, "203.0.113.9"):  # an untrusted header changes nothing
        r = await client.get("/api/v1/users/me", headers=_from(ip) if ip else {})
        assert r.status_code == 401
        assert "ratelimit-limit" not in r.headers
    # Users are still limited, each on their own.
    r = await client.get("/api/v1/users/me", headers=alice.headers)
    assert r.headers["ratelimit-limit"] == "100000"


async def test_each_forwarded_client_has_its_own_allowance(balanced: httpx.AsyncClient) -> None:
    first, second = _client_address(), _client_address()
    answers = [await balanced.get("/api/v1/users/me", headers=_from(first)) for _ in range(PER_MIN)]
    assert [r.status_code for r in answers] == [401] * PER_MIN
    assert [int(r.headers["ratelimit-remaining"]) for r in answers] == list(
        range(PER_MIN - 1, -1, -1)
    )
    refused = await balanced.get("/api/v1/users/me", headers=_from(first))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    # Entries a client writes before the balancer's own are not believed.
    spoofed = await balanced.get("/api/v1/users/me", headers=_from(f"{second}, {first}"))
    assert spoofed.status_code == 429
    # Another client is unaffected, and so is a caller the balancer did not name
    # (HAProxy adds no header of its own: such a caller stays unknown, unlimited).
    other = await balanced.get("/api/v1/users/me", headers=_from(second))
    assert other.status_code == 401
    assert other.headers["ratelimit-remaining"] == str(PER_MIN - 1)
    unknown = await balanced.get("/api/v1/users/me")
    assert unknown.status_code == 401 and "ratelimit-limit" not in unknown.headers


async def test_failed_logins_lock_the_forwarded_ip_not_everyone(
    client: httpx.AsyncClient, balanced: httpx.AsyncClient
) -> None:
    user = await signup(client)
    attacker, bystander = _client_address(), _client_address()
    for i in range(4):  # three free failures, then the IP is locked
        r = await balanced.post(
            "/api/v1/auth/login",
            json={"email": f"nobody-{i}-{uuid.uuid4().hex[:6]}@example.com", "password": "guess"},
            headers=_from(attacker),
        )
        assert r.status_code == 401, r.text
    good = {"email": user.email, "password": "correct horse"}
    locked = await balanced.post("/api/v1/auth/login", json=good, headers=_from(attacker))
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["retry-after"]) > 0
    # The lock is the attacker's address only.
    r = await balanced.post("/api/v1/auth/login", json=good, headers=_from(bystander))
    assert r.status_code == 200, r.text
    r = await balanced.post("/api/v1/auth/login", json=good)
    assert r.status_code == 200, r.text


async def test_metrics_need_the_token_when_one_is_set(balanced: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
    ):
        r = await balanced.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["status"] == 401
        assert "# TYPE" not in r.text
    r = await balanced.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE taskhive_http_request_duration_seconds histogram" in r.text


async def test_metrics_are_open_when_no_token_is_set(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "taskhive_http_request_duration_seconds" in r.text
