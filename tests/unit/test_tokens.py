"""Access tokens (JWT) and password hashing in `serve_app.security`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import jwt
import pytest

from domain.errors import Unauthenticated
from serve_app.security import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    Principal,
    decode_access_token,
    hash_password,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)

# long enough for HS512 too, so PyJWT has no key-length warning to raise
SECRET = "unit-test-secret-" + "s" * 64
OTHER_SECRET = "another-secret-" + "o" * 64
PRINCIPAL = Principal(user_id=uuid4(), org_id=uuid4())


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "sub": str(PRINCIPAL.user_id),
        "org": str(PRINCIPAL.org_id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": "abc",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def craft(secret: str = SECRET, algorithm: str = ALGORITHM, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def rejected(token: str, secret: str = SECRET) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        decode_access_token(token, secret=secret)
    assert info.value.status == 401
    return info.value


# -- access tokens ----------------------------------------------------------------


def test_access_token_round_trip() -> None:
    token = issue_access_token(PRINCIPAL, secret=SECRET, ttl_s=60)
    assert decode_access_token(token, secret=SECRET) == PRINCIPAL


def test_issued_token_claims() -> None:
    token = issue_access_token(PRINCIPAL, secret=SECRET, ttl_s=900)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    body = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert body["sub"] == str(PRINCIPAL.user_id)
    assert body["org"] == str(PRINCIPAL.org_id)
    assert 890 <= body["exp"] - body["iat"] <= 910


def test_issued_tokens_are_unique() -> None:
    tokens = {issue_access_token(PRINCIPAL, secret=SECRET, ttl_s=60) for _ in range(20)}
    assert len(tokens) == 20


def test_crafted_valid_token_is_accepted() -> None:
    # guards the negative tests below: only the one named claim differs
    assert decode_access_token(craft(), secret=SECRET) == PRINCIPAL


def test_wrong_secret_rejected() -> None:
    token = issue_access_token(PRINCIPAL, secret=OTHER_SECRET, ttl_s=60)
    rejected(token)


def test_tampered_payload_rejected() -> None:
    header, _payload, signature = issue_access_token(PRINCIPAL, secret=SECRET, ttl_s=60).split(".")
    forged = b64(claims(sub=str(uuid4())) | {"iat": 0, "nbf": 0, "exp": 4_000_000_000})
    rejected(f"{header}.{forged}.{signature}")


def test_expired_token_rejected() -> None:
    now = datetime.now(UTC)
    token = craft(
        iat=now - timedelta(hours=2), nbf=now - timedelta(hours=2), exp=now - timedelta(minutes=1)
    )
    rejected(token)


def test_token_issued_with_negative_ttl_rejected() -> None:
    rejected(issue_access_token(PRINCIPAL, secret=SECRET, ttl_s=-60))


def test_not_yet_valid_token_rejected() -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    rejected(craft(nbf=later, iat=later, exp=later + timedelta(minutes=5)))


def test_alg_none_rejected() -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims() | {'iat': 0, 'nbf': 0, 'exp': 4_000_000_000})}."
    rejected(unsigned)
    rejected(jwt.encode(claims(), "", algorithm="none"))  # "": no key, as "none" requires


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_rejected(algorithm: str) -> None:
    rejected(craft(algorithm=algorithm))


def test_header_claiming_hs256_over_hs512_signature_rejected() -> None:
    token = craft(algorithm="HS512")
    _header, payload, signature = token.split(".")
    rejected(f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{payload}.{signature}")


@pytest.mark.parametrize("issuer", ["someone-else", "", "Taskhive"])
def test_wrong_issuer_rejected(issuer: str) -> None:
    rejected(craft(iss=issuer))


@pytest.mark.parametrize("audience", ["other-api", "", ["other-api"]])
def test_wrong_audience_rejected(audience: Any) -> None:
    rejected(craft(aud=audience))


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss", "aud", "org"])
def test_missing_claim_rejected(claim: str) -> None:
    token = jwt.encode(
        {k: v for k, v in claims().items() if k != claim}, SECRET, algorithm=ALGORITHM
    )
    rejected(token)


@pytest.mark.parametrize("field", ["sub", "org"])
def test_malformed_ids_rejected(field: str) -> None:
    rejected(craft(**{field: "not-a-uuid"}))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....."])
def test_garbage_token_rejected(token: str) -> None:
    rejected(token)


@pytest.mark.parametrize("org", [123, None, ["x"]])
def test_non_string_org_claim_rejected(org: Any) -> None:
    token = jwt.encode(claims() | {"org": org}, SECRET, algorithm=ALGORITHM)
    rejected(token)


# -- refresh tokens ---------------------------------------------------------------


def test_refresh_tokens_are_random_and_stored_by_hash() -> None:
    token, digest = new_refresh_token()
    other, other_digest = new_refresh_token()
    assert token != other
    assert digest != other_digest
    assert len(token) >= 32
    assert digest == hash_refresh_token(token)
    assert token not in digest


# -- passwords --------------------------------------------------------------------


@pytest.fixture(scope="module")
async def stored_hash() -> str:
    return await hash_password("correct horse battery staple")


async def test_password_hash_verifies(stored_hash: str) -> None:
    assert stored_hash.startswith("$argon2id$")
    assert "correct horse" not in stored_hash
    assert await verify_password("correct horse battery staple", stored_hash) is True


async def test_wrong_password_fails(stored_hash: str) -> None:
    assert await verify_password("correct horse battery stapler", stored_hash) is False
    assert await verify_password("", stored_hash) is False


async def test_missing_hash_never_verifies() -> None:
    assert await verify_password("anything", None) is False
    assert await verify_password("", None) is False


async def test_corrupt_hash_fails_closed() -> None:
    assert await verify_password("pw", "not-an-argon2-hash") is False
