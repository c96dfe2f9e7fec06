"""Passwords (argon2id), access tokens (JWT: HS256 with a shared secret by default,
or EdDSA with an Ed25519 key whose public half is published as JWKS), refresh
tokens and personal API tokens (both opaque, stored as SHA-256).

Argon2 hashing takes tens of milliseconds of CPU, so it runs in a worker thread
and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from domain.errors import Unauthenticated

ISSUER = "taskhive"
AUDIENCE = "taskhive-api"
ALGORITHM = "HS256"

#: What a credential may do: `read` only safe methods, `write` everything but
#: managing credentials, `admin` everything. A login session holds all three.
SCOPES = ("read", "write", "admin")
ALL_SCOPES = frozenset(SCOPES)
#: Personal API tokens start with this, so they are recognisable (secret scanners,
#: logs) and told apart from JWTs without parsing.
API_TOKEN_PREFIX = "thp_"  # noqa: S105 - a marker, not a secret

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
    #: What the credential allows (see `SCOPES`); not part of identity.
    scopes: frozenset[str] = field(default=ALL_SCOPES, compare=False)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """A verified access token: who, and when it was issued (epoch seconds)."""

    principal: Principal
    issued_at: float
    #: When it stops being accepted (epoch seconds, the `exp` claim).
    expires_at: float = float("inf")


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """How access tokens are signed and checked. `HS256` with a shared secret is the
    embedded default; `EdDSA` (Ed25519) lets other services verify tokens with the
    public key from `/.well-known/jwks.json` without holding a secret that could
    mint them. Only the one configured algorithm is ever accepted."""

    algorithm: str
    signing_key: Any
    verifying_key: Any
    kid: str | None = None

    @classmethod
    def shared(cls, secret: str) -> SigningKeys:
        return cls(ALGORITHM, secret, secret)

    @classmethod
    def ed25519(cls, pem: str) -> SigningKeys:
        """From a PEM private key (`openssl genpkey -algorithm ed25519`)."""
        key = load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the JWT signing key must be an Ed25519 private key")
        public = key.public_key()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public))
        # RFC 7638 thumbprint: the key's id, stable for the same key.
        canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
        return cls("EdDSA", key, public, kid.decode().rstrip("="))

    def jwks(self) -> dict[str, Any] | None:
        """The public JWK Set, None for a shared secret (never published)."""
        if self.algorithm == ALGORITHM:
            return None
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.verifying_key))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}]}


def _keys(secret: str | SigningKeys) -> SigningKeys:
    return secret if isinstance(secret, SigningKeys) else SigningKeys.shared(secret)


def issue_access_token(principal: Principal, *, secret: str | SigningKeys, ttl_s: int) -> str:
    """A signed access token; `secret` is the HS256 secret or the configured keys."""
    keys = _keys(secret)
    now = datetime.now(UTC)
    claims = {
        "sub": str(principal.user_id),
        "org": str(principal.org_id),
        # Fractional on purpose: a token issued right after a password change must
        # compare later than `users.tokens_valid_after`, even within the same second.
        "iat": now.timestamp(),
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": secrets.token_hex(8),
    }
    headers = {"kid": keys.kid} if keys.kid else None
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)


def decode_access_token(token: str, *, secret: str | SigningKeys) -> Principal:
    """Verify signature, algorithm, expiry, issuer and audience; raise Unauthenticated."""
    return verify_access_token(token, secret=secret).principal


def verify_access_token(token: str, *, secret: str | SigningKeys) -> AccessClaims:
    """Verify signature, algorithm (the configured one only: `none` and any other
    `alg` header are refused, so an HS256 token made with the public EdDSA key
    fails), expiry, not-before, issuer and audience; raise Unauthenticated.

    Says nothing about whether the user still exists or the token was revoked by a
    password change: `serve_app.authn.Authenticator` checks that.
    """
    try:
        keys = _keys(secret)
        claims = jwt.decode(
            token,
            keys.verifying_key,
            algorithms=[keys.algorithm],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=5,
        )
        principal = Principal(user_id=UUID(claims["sub"]), org_id=UUID(claims["org"]))
        return AccessClaims(
            principal=principal, issued_at=float(claims["iat"]), expires_at=float(claims["exp"])
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise Unauthenticated(f"invalid access token: {exc}") from None


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_token(token: str) -> str:
    """How opaque tokens (refresh, API) are stored: they carry 256 random bits, so
    a plain SHA-256 is enough (no salt or slow hash needed, unlike passwords)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_refresh_token(token: str) -> str:
    return hash_token(token)


def new_api_token() -> tuple[str, str]:
    """A fresh personal API token (`thp_` + 43 url-safe characters, 256 random bits)
    and the hash under which it is stored."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def is_api_token(token: str) -> bool:
    return token.startswith(API_TOKEN_PREFIX)
