"""The public list of single sign-on providers the log-in screen shows a button
for: the configured names in order, with a label, and nothing of their secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from actors.router import HostRouter
from cluster.stack import Stack
from serve_app.app import app, signing_keys
from serve_app.authn import Authenticator
from serve_app.config import AppConfig, OidcProvider
from serve_app.context import AppContext, install_context, installed_context
from serve_app.routes.oidc import provider_label
from storage.db import create_engine
from tests.stack_fixtures import JWT_SECRET

SECRET = "provider-secret-0123456789abcdef"


@pytest.fixture
async def sso_client(stack: Stack, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process with two providers configured (none is contacted:
    listing them needs only the configuration)."""
    config = AppConfig(
        database_url=database_url,
        redis_url=None,
        jwt_secret=JWT_SECRET,
        oidc_providers=(
            OidcProvider(
                name="google",
                issuer="https://accounts.example.test",
                client_id="taskhive-google",
                client_secret=SECRET,
                domains=(("acme.test", "00000000-0000-0000-0000-000000000001"),),
            ),
            OidcProvider(
                name="corp-sso",
                issuer="https://sso.corp.test",
                client_id="taskhive-corp",
                client_secret=SECRET,
            ),
        ),
    )
    engine = create_engine(database_url, pool_size=2)
    ctx = AppContext(
        config=config,
        engine=engine,
        redis=None,
        router=HostRouter({}),
        auth=Authenticator(engine, secret=signing_keys(config), ttl_s=0),
    )
    previous = installed_context()
    install_context(ctx)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://taskhive") as client:
            yield client
    finally:
        install_context(previous)
        await engine.dispose()


async def test_configured_providers_are_listed_without_signing_in(
    sso_client: httpx.AsyncClient,
) -> None:
    r = await sso_client.get("/api/v1/auth/oidc/providers")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "items": [
            {"name": "google", "label": "Google"},
            {"name": "corp-sso", "label": "Corp sso"},
        ]
    }
    # Only names and labels: no issuer, client id, secret or domain mapping.
    for leaked in (SECRET, "taskhive-google", "accounts.example.test", "acme.test"):
        assert leaked not in r.text


async def test_a_name_not_listed_has_no_login(sso_client: httpx.AsyncClient) -> None:
    r = await sso_client.get("/api/v1/auth/oidc/github/login")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_the_stack_without_providers_lists_none(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/auth/oidc/providers")
    assert r.status_code == 200, r.text
    assert r.json() == {"items": []}


@pytest.mark.parametrize(
    ("name", "label"),
    [("google", "Google"), ("azure-ad", "Azure ad"), ("okta_prod", "Okta prod"), ("x", "X")],
)
def test_labels_come_from_names(name: str, label: str) -> None:
    assert provider_label(name) == label
