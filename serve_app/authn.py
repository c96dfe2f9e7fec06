"""Authentication of bearer credentials, with a short per-replica cache.

A bearer is either an access token (JWT) or a personal API token (`thp_…`). Beyond
the signature, a JWT is valid only while its user is an active member of the
token's organisation and was issued after the user's `tokens_valid_after` (a
password change); an API token only while it exists, is unexpired and its user is
an active member.

Looking that up on every request would cost a database query each, so each replica
caches the answers for `ttl_s` seconds (`TASKHIVE_AUTH_CACHE_S`, default 5).
**Bound:** a password change, removed membership, deactivation or deleted API
token takes effect on every replica within `ttl_s` seconds; on the replica that
made the change at once (it calls `forget_user` / `forget_api_token`). Expiry of
JWTs and API tokens is checked on every request, not cached.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import Unauthenticated
from serve_app.security import (
    AccessClaims,
    Principal,
    SigningKeys,
    hash_token,
    is_api_token,
    verify_access_token,
)
from storage import credentials
from storage.credentials import ApiTokenGrant, UserStanding
from storage.db import autocommit

#: How long a verified access token signature is remembered (per replica).
VERIFIED_TTL_S = 60.0
#: The leeway `verify_access_token` grants on `exp`, kept for cached tokens too.
EXPIRY_LEEWAY_S = 5.0

K = TypeVar("K")
V = TypeVar("V")


class _LoaderGone(Exception):
    """The request loading a value was cancelled: a waiter loads it itself."""


class TtlCache(Generic[K, V]):
    """A bounded LRU whose entries expire `ttl_s` seconds (monotonic) after they were
    stored. Values may be None (a cached "no such thing").

    `get` loads a missing value once however many requests want it meanwhile:
    when an entry expires under load, every request in flight for it would
    otherwise send the same query at the same moment."""

    def __init__(self, ttl_s: float, capacity: int = 50_000) -> None:
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or `load()`'s, which is then cached. Requests that
        want the same key while it loads wait for that load instead of their own;
        they get its error too, except its cancellation (then one of them loads)."""
        while True:
            cached = self.lookup(key)
            if cached is not None:
                return cached[0]
            loading = self._loading.get(key)
            if loading is None:
                return await self._load(key, load)
            try:
                return await asyncio.shield(loading)
            except _LoaderGone:
                continue

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        loading: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = loading
        try:
            value = await load()
        except BaseException as exc:
            if self._loading.get(key) is loading:
                del self._loading[key]
            gone = not isinstance(exc, Exception)
            loading.set_exception(_LoaderGone() if gone else exc)
            loading.exception()  # retrieved: no warning when nobody waited
            raise
        # Not when discarded meanwhile: the value may predate the change.
        if self._loading.get(key) is loading:
            del self._loading[key]
            self.put(key, value)
        loading.set_result(value)
        return value

    def lookup(self, key: K) -> tuple[V] | None:
        """`(value,)` while cached, None when absent or expired."""
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return (item[1],)

    def put(self, key: K, value: V) -> None:
        if self._ttl_s <= 0:
            return
        self._items[key] = (time.monotonic() + self._ttl_s, value)
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def discard(self, key: K) -> None:
        self._items.pop(key, None)
        self._loading.pop(key, None)

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if predicate(k)]:
            del self._items[key]
        for key in [k for k in self._loading if predicate(k)]:
            del self._loading[key]


class Authenticator:
    """Turns a bearer string into a `Principal` or raises `Unauthenticated`.

    One per replica (see `AppContext`); see the module docstring for how stale its
    answers may be.
    """

    def __init__(
        self, engine: AsyncEngine, *, secret: str | SigningKeys, ttl_s: float = 5.0
    ) -> None:
        self._engine = engine
        self._secret = secret if isinstance(secret, SigningKeys) else SigningKeys.shared(secret)
        self._standing: TtlCache[tuple[UUID, UUID], UserStanding | None] = TtlCache(ttl_s)
        self._api_tokens: TtlCache[str, ApiTokenGrant | None] = TtlCache(ttl_s)
        # Verified signatures, so a request verifies its token once (the rate limit
        # and the authentication both read it) and a busy client rarely does.
        self._verified: TtlCache[str, AccessClaims] = TtlCache(VERIFIED_TTL_S, 10_000)

    def _claims(self, bearer: str) -> AccessClaims:
        """The verified claims of an access token; Unauthenticated when it is not one.
        A signature once verified stays so; expiry is checked on every use."""
        cached = self._verified.lookup(bearer)
        if cached is not None and cached[0].expires_at + EXPIRY_LEEWAY_S > time.time():
            return cached[0]
        claims = verify_access_token(bearer, secret=self._secret)
        self._verified.put(bearer, claims)
        return claims

    async def authenticate(self, bearer: str) -> Principal:
        if is_api_token(bearer):
            return await self._api_token(bearer)
        claims = self._claims(bearer)
        principal = claims.principal
        standing = await self._user_standing(principal.user_id, principal.org_id)
        if standing is None:
            raise Unauthenticated("the token's user is no longer a member of its organisation")
        valid_after = standing.tokens_valid_after
        if valid_after is not None and claims.issued_at < valid_after.timestamp():
            raise Unauthenticated("the access token was revoked (password changed)")
        return principal

    def rate_limit_subject(self, bearer: str) -> str | None:
        """The user a bearer speaks for, for rate limiting only; never queries.

        A JWT's subject is trusted on its signature alone (a revoked but genuine
        token still charges its own user). An API token is known only once this
        replica has it cached, so the first request after a cache expiry counts
        against the client IP instead (if known, see `serve_app.ratelimit_middleware`):
        at most one request per `ttl_s` per token.
        In exchange, random `thp_` strings cannot buy database queries before the
        limit applies.
        """
        if is_api_token(bearer):
            cached = self._api_tokens.lookup(hash_token(bearer))
            grant = cached[0] if cached is not None else None
            return str(grant.user_id) if grant is not None else None
        try:
            return str(self._claims(bearer).principal.user_id)
        except Unauthenticated:
            return None

    def forget_user(self, user_id: UUID) -> None:
        """Drop cached standing of the user (after a password change on this replica)."""
        self._standing.discard_where(lambda key: key[0] == user_id)

    def forget_api_token(self, token_hash: str) -> None:
        self._api_tokens.discard(token_hash)

    async def _user_standing(self, user_id: UUID, org_id: UUID) -> UserStanding | None:
        async def load() -> UserStanding | None:
            async with autocommit(self._engine).connect() as conn:  # one statement
                return await credentials.user_standing(conn, user_id=user_id, org_id=org_id)

        return await self._standing.get((user_id, org_id), load)

    async def _api_token(self, bearer: str) -> Principal:
        token_hash = hash_token(bearer)

        async def load() -> ApiTokenGrant | None:
            async with autocommit(self._engine).connect() as conn:
                return await credentials.find_api_token(conn, token_hash)

        grant = await self._api_tokens.get(token_hash, load)
        if grant is None:
            raise Unauthenticated("unknown or revoked API token")
        if grant.expires_at is not None and grant.expires_at <= datetime.now(UTC):
            raise Unauthenticated("the API token has expired")
        return Principal(user_id=grant.user_id, org_id=grant.org_id, scopes=grant.scopes)

    @property
    def keys(self) -> SigningKeys:
        """The keys access tokens are signed and checked with."""
        return self._secret
