"""Passwords (argon2id), access tokens (JWT, HS256) and refresh tokens (opaque).

Argon2 hashing takes tens of milliseconds of CPU, so it runs in a worker thread
and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import Unauthenticated

ISSUER = "taskhive"
AUDIENCE = "taskhive-api"
ALGORITHM = "HS256"

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    def check() -> bool:
        try:
            return (
                _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user acting within one organisation."""

    user_id: UUID
    org_id: UUID


def issue_access_token(principal: Principal, *, secret: str, ttl_s: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(principal.user_id),
        "org": str(principal.org_id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> Principal:
    """Verify signature, algorithm, expiry, issuer and audience; raise Unauthenticated."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=5,
        )
        return Principal(user_id=UUID(claims["sub"]), org_id=UUID(claims["org"]))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise Unauthenticated(f"invalid access token: {exc}") from None


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
