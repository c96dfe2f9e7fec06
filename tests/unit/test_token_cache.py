"""A replica remembers verified access tokens, but never past their expiry."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from domain.errors import Unauthenticated
from serve_app import authn
from serve_app.authn import Authenticator
from serve_app.security import Principal, issue_access_token, verify_access_token

SECRET = "s" * 32


def _auth() -> Authenticator:
    engine: Any = None  # the signature path never queries
    return Authenticator(engine, secret=SECRET, ttl_s=0)


def test_a_token_is_verified_once_then_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    principal = Principal(user_id=uuid.uuid4(), org_id=uuid.uuid4())
    token = issue_access_token(principal, secret=SECRET, ttl_s=600)
    calls = []
    real = verify_access_token

    def counting(bearer: str, **kw: Any) -> Any:
        calls.append(bearer)
        return real(bearer, **kw)

    monkeypatch.setattr(authn, "verify_access_token", counting)
    auth = _auth()
    assert auth.rate_limit_subject(token) == str(principal.user_id)
    assert auth.rate_limit_subject(token) == str(principal.user_id)
    assert calls == [token]
    assert auth.rate_limit_subject(token[:-2] + "xx") is None  # a forgery still fails


def test_a_remembered_token_is_not_trusted_past_its_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    principal = Principal(user_id=uuid.uuid4(), org_id=uuid.uuid4())
    token = issue_access_token(principal, secret=SECRET, ttl_s=60)
    calls = []

    def verify(bearer: str, **kw: Any) -> Any:
        calls.append(bearer)
        if len(calls) > 1:
            raise Unauthenticated("invalid access token: Signature has expired")
        return real(bearer, **kw)

    real = verify_access_token
    monkeypatch.setattr(authn, "verify_access_token", verify)
    auth = _auth()
    assert auth.rate_limit_subject(token) == str(principal.user_id)
    now = time.time()
    # `authn` reads the clock as `time.time()`.
    monkeypatch.setattr(time, "time", lambda: now + 60 + authn.EXPIRY_LEEWAY_S + 1)
    with pytest.raises(Unauthenticated):  # checked again, not answered from memory
        auth._claims(token)
    assert len(calls) == 2
