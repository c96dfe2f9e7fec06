"""OpenID Connect login against a real OpenID Provider (`oidc-provider` from npm,
started on loopback), driven through the whole redirect flow: just-in-time
provisioning by verified email domain, linking by verified email, and tampered
state, nonce and PKCE challenges failing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
import redis.asyncio as aioredis

from actors.router import HostRouter
from cluster.stack import Stack
from serve_app.app import app, signing_keys
from serve_app.authn import Authenticator
from serve_app.config import AppConfig, OidcProvider
from serve_app.context import AppContext, install_context, installed_context
from storage.db import create_engine
from tests.integration.conftest import free_port
from tests.stack_fixtures import JWT_SECRET

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
APP = "http://taskhive"
CLIENT_ID, CLIENT_SECRET = "taskhive", "test-client-secret-0123456789abcdef"
SUFFIX = uuid.uuid4().hex[:8]
JIT_DOMAIN = f"jit-{SUFFIX}.test"
ACCOUNTS = {
    "newcomer": {"email": f"newcomer@{JIT_DOMAIN}", "email_verified": True},
    "existing": {"email": f"existing-{SUFFIX}@example.com", "email_verified": True},
    "unverified": {"email": f"unverified@{JIT_DOMAIN}", "email_verified": False},
    "stranger": {"email": f"stranger-{SUFFIX}@elsewhere.test", "email_verified": True},
}


@dataclass
class Idp:
    issuer: str


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the OIDC tests need Node.js and npm (apt-get install nodejs npm)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, timeout=300
        )
    port = free_port()
    config = tmp_path_factory.mktemp("oidc") / "config.json"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{APP}/api/v1/auth/oidc/test/callback"],
    }
    config.write_text(json.dumps({"client": client, "accounts": ACCOUNTS}))
    log = config.with_name("provider.log")
    with log.open("w") as out:
        process = subprocess.Popen(
            [node, "provider.mjs", str(port), str(config)],
            cwd=PROVIDER_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "ready " not in log.read_text():  # warnings first, then "ready <issuer>"
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the OpenID Provider did not start: {log.read_text()}")
            time.sleep(0.1)
        yield Idp(issuer=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def org_id(stack: Stack, database_url: str) -> str:
    """The organisation verified `JIT_DOMAIN` emails are provisioned into."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        org = uuid.uuid4()
        await conn.execute("INSERT INTO orgs (id, name) VALUES ($1, 'Acme SSO')", org)
    finally:
        await conn.close()
    return str(org)


@pytest.fixture
async def taskhive(
    stack: Stack, database_url: str, redis_url: str, idp: Idp, org_id: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process, with the test provider configured."""
    config = AppConfig(
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=JWT_SECRET,
        public_url=APP,
        oidc_providers=(
            OidcProvider(
                name="test",
                issuer=idp.issuer,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                domains=((JIT_DOMAIN, org_id),),
            ),
        ),
    )
    engine = create_engine(database_url, pool_size=2)
    redis = aioredis.from_url(redis_url)
    ctx = AppContext(
        config=config,
        engine=engine,
        redis=redis,
        router=HostRouter({}),
        auth=Authenticator(engine, secret=signing_keys(config), ttl_s=0),
    )
    previous = installed_context()
    install_context(ctx)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
            yield client
    finally:
        install_context(previous)
        await redis.aclose()
        await engine.dispose()


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = unescape(re.search(r'<form[^>]*action="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return action, hidden


async def _through_provider(url: str, login: str) -> str:
    """Play the browser at the provider: sign in as `login`, consent, and return
    the URL it redirects back to the application with."""
    async with httpx.AsyncClient(timeout=10.0) as browser:
        r = await browser.get(url)
        for _ in range(12):
            if r.is_redirect:
                target = urljoin(str(r.url), r.headers["location"])
                if target.startswith(APP):
                    return target
                r = await browser.get(target)
                continue
            assert r.status_code == 200, r.text[:500]
            action, fields = _form(r.text)
            if fields.get("prompt") == "login":
                fields |= {"login": login, "password": "any"}
            r = await browser.post(urljoin(str(r.url), action), data=fields)
        raise AssertionError("the provider never redirected back")


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {name: value}
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _sign_in(
    taskhive: httpx.AsyncClient,
    login: str,
    tamper: tuple[str, str] | None = None,
    start_path: str = "/api/v1/auth/oidc/test/login",
) -> httpx.Response:
    start = await taskhive.get(start_path)
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    if tamper is not None:
        authorize = _with_param(authorize, *tamper)
    back = await _through_provider(authorize, login)
    return await taskhive.get(back.removeprefix(APP))


async def _me(taskhive: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    r = await taskhive.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_verified_domain_is_provisioned_just_in_time(
    taskhive: httpx.AsyncClient, org_id: str, db: Any
) -> None:
    r = await _sign_in(taskhive, "newcomer")
    assert r.status_code == 200, r.text
    me = await _me(taskhive, r.json())
    assert (me["email"], me["org_id"], me["role"]) == (
        ACCOUNTS["newcomer"]["email"],
        org_id,
        "member",
    )
    # Signing in again finds the linked account instead of provisioning another.
    again = await _sign_in(taskhive, "newcomer")
    assert again.json()["user_id"] == r.json()["user_id"]
    actions = await db.fetch(
        "SELECT action FROM audit_log WHERE actor_id = $1 ORDER BY id", uuid.UUID(me["id"])
    )
    assert [a["action"] for a in actions] == ["user.oidc_provisioned", "auth.oidc_login"]


async def test_an_existing_account_is_linked_by_verified_email(
    taskhive: httpx.AsyncClient,
) -> None:
    email = ACCOUNTS["existing"]["email"]
    r = await taskhive.post(
        "/api/v1/auth/signup", json={"email": email, "name": "Ex", "password": "long enough"}
    )
    assert r.status_code == 201, r.text
    signed_up = r.json()
    r = await _sign_in(taskhive, "existing")
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == signed_up["user"]["id"]
    assert r.json()["org_id"] == signed_up["org"]["id"]


async def test_unverified_or_unknown_domains_get_no_account(taskhive: httpx.AsyncClient) -> None:
    assert (await _sign_in(taskhive, "unverified")).status_code == 403
    assert (await _sign_in(taskhive, "stranger")).status_code == 403


async def test_a_forged_or_replayed_state_fails(taskhive: httpx.AsyncClient) -> None:
    start = await taskhive.get("/api/v1/auth/oidc/test/login")
    back = await _through_provider(start.headers["location"], "newcomer")
    forged = _with_param(back, "state", "forged-state")
    assert (await taskhive.get(forged.removeprefix(APP))).status_code == 401
    assert (await taskhive.get(back.removeprefix(APP))).status_code == 200
    replay = await taskhive.get(back.removeprefix(APP))
    assert replay.status_code == 401 and "state" in replay.json()["detail"]


async def test_a_tampered_nonce_fails(taskhive: httpx.AsyncClient) -> None:
    r = await _sign_in(taskhive, "newcomer", tamper=("nonce", "attacker-nonce"))
    assert r.status_code == 401 and "nonce" in r.json()["detail"]


async def test_a_tampered_pkce_challenge_fails(taskhive: httpx.AsyncClient) -> None:
    challenge = "A" * 43  # not the hash of the verifier the application kept
    r = await _sign_in(taskhive, "newcomer", tamper=("code_challenge", challenge))
    assert r.status_code == 401


async def test_an_unknown_provider_is_404(taskhive: httpx.AsyncClient) -> None:
    assert (await taskhive.get("/api/v1/auth/oidc/nope/login")).status_code == 404


async def test_a_browser_login_returns_to_the_app_with_tokens_in_the_fragment(
    taskhive: httpx.AsyncClient,
) -> None:
    r = await _sign_in(
        taskhive, "newcomer", start_path="/api/v1/auth/oidc/test/login?return_to=/login"
    )
    assert r.status_code == 303, r.text
    assert r.headers["cache-control"] == "no-store"
    path, _, fragment = r.headers["location"].partition("#")
    assert path == "/login"
    tokens = {k: v[0] for k, v in parse_qs(fragment).items()}
    assert {"access_token", "refresh_token", "user_id", "org_id"} <= set(tokens)
    assert (await _me(taskhive, tokens))["id"] == tokens["user_id"]


async def test_a_refused_browser_login_returns_with_the_reason(
    taskhive: httpx.AsyncClient,
) -> None:
    r = await _sign_in(
        taskhive, "stranger", start_path="/api/v1/auth/oidc/test/login?return_to=/login"
    )
    assert r.status_code == 303, r.text
    path, _, fragment = r.headers["location"].partition("#")
    assert path == "/login"
    error = parse_qs(fragment)["error"][0]
    assert "no account" in error and "access_token" not in fragment


async def test_return_to_must_stay_on_this_site(taskhive: httpx.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "login", "/\\evil.example"):
        r = await taskhive.get("/api/v1/auth/oidc/test/login", params={"return_to": target})
        assert r.status_code == 422, (target, r.text)
        assert "return_to" in r.json()["detail"]
