"""Asymmetric access tokens: with an Ed25519 key configured, tokens are EdDSA-signed,
verifiable with the published JWKS, and nothing else is accepted. The embedded
default (HS256, as the test stack runs) publishes no key."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from actors.router import HostRouter
from cluster.stack import Stack
from serve_app.app import app, signing_keys
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.context import AppContext, install_context, installed_context
from serve_app.security import AUDIENCE, ISSUER, Principal, SigningKeys, issue_access_token
from storage.db import create_engine
from tests.stack_fixtures import JWT_SECRET


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
async def eddsa_client(
    stack: Stack, database_url: str, private_key: Ed25519PrivateKey
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process (no Ray needed for accounts), signing with EdDSA."""
    config = AppConfig(
        database_url=database_url,
        redis_url=None,
        jwt_secret=JWT_SECRET,
        jwt_private_key=_pem(private_key),
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


async def _signup(client: httpx.AsyncClient) -> dict[str, str]:
    email = f"k-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        "/api/v1/auth/signup", json={"email": email, "name": "K", "password": "correct horse"}
    )
    assert r.status_code == 201, r.text
    data = r.json()
    return {
        "token": data["access_token"],
        "user_id": data["user"]["id"],
        "org_id": data["org"]["id"],
    }


async def test_tokens_are_eddsa_and_verify_with_the_published_key(
    eddsa_client: httpx.AsyncClient,
) -> None:
    r = await eddsa_client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    [key] = r.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "d" not in key  # never the private part
    account = await _signup(eddsa_client)
    header = jwt.get_unverified_header(account["token"])
    assert (header["alg"], header["kid"]) == ("EdDSA", key["kid"])
    public = jwt.PyJWK(key).key
    claims = jwt.decode(
        account["token"], public, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["sub"] == account["user_id"]
    me = await eddsa_client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {account['token']}"}
    )
    assert me.status_code == 200


async def test_only_eddsa_is_accepted(
    eddsa_client: httpx.AsyncClient, private_key: Ed25519PrivateKey
) -> None:
    account = await _signup(eddsa_client)
    principal = Principal(
        user_id=uuid.UUID(account["user_id"]), org_id=uuid.UUID(account["org_id"])
    )

    async def status(token: str) -> int:
        r = await eddsa_client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    # A token made with the (still valid) shared secret is refused once EdDSA is on.
    assert await status(issue_access_token(principal, secret=JWT_SECRET, ttl_s=60)) == 401
    # Algorithm substitution: HS256 "signed" with the public key's bytes.
    public_pem = private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    now = datetime.now(UTC)
    claims = {
        "sub": account["user_id"],
        "org": account["org_id"],
        "iat": now.timestamp(),
        "exp": now + timedelta(minutes=5),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    forged = _hs256(claims, public_pem)
    assert await status(forged) == 401
    # Another Ed25519 key: refused.
    other = SigningKeys.ed25519(_pem(Ed25519PrivateKey.generate()))
    assert await status(issue_access_token(principal, secret=other, ttl_s=60)) == 401
    # The configured key: accepted.
    mine = SigningKeys.ed25519(_pem(private_key))
    assert await status(issue_access_token(principal, secret=mine, ttl_s=60)) == 200


def _hs256(claims: dict[str, object], key: bytes) -> str:
    """An HS256 JWT built by hand (PyJWT refuses to use a PEM key as an HMAC secret)."""
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    body = {k: (int(v.timestamp()) if isinstance(v, datetime) else v) for k, v in claims.items()}
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(body).encode())
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


async def test_the_shared_secret_default_publishes_no_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_non_ed25519_key_is_refused_at_start() -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    pem = (
        generate_private_key(SECP256R1())
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        SigningKeys.ed25519(pem)
