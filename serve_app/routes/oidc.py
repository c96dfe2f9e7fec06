"""Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256),
`state` and `nonce`, against the providers configured in `AppConfig.oidc_providers`.

`GET /api/v1/auth/oidc/{provider}/login` stores a random `state` (single use, ten
minutes, in Redis) with the `nonce` and PKCE verifier, and redirects to the
provider. The provider sends the browser back to `.../callback?code&state`: the
state is taken (so a replay or a forged state fails), the code is exchanged with
the verifier, and the ID token is checked with the provider's published keys
(signature, issuer, audience, expiry, and that its `nonce` is ours). Then:

- an account linked to this provider subject logs in;
- else a user with the same *verified* email is linked and logs in;
- else, when the verified email's domain is mapped to an organisation
  (`domains`), a user is provisioned there as `member` (just in time);
- else 403. An unverified email is never linked or provisioned.

The answer is a token pair (as from a password login), for the user's oldest
organisation. SSO logins skip TOTP: the provider is responsible for its factors.

`GET /api/v1/auth/oidc/providers` lists the configured providers' names (public:
the log-in screen shows a button per provider before anyone is signed in).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
import jwt
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from serve_app.client_address import caller_ip
from serve_app.config import OidcProvider
from serve_app.context import AppContext, Ctx
from serve_app.responses import json_response
from serve_app.routes.auth import issue_tokens
from serve_app.security import Principal
from storage import accounts, identities, memberships

router = APIRouter(prefix="/api/v1/auth/oidc", tags=["auth"])

STATE_TTL_S = 600
#: Stored as the password hash of provisioned users: no argon2 hash, so no password
#: matches it until the user sets one.
NO_PASSWORD = "!"  # noqa: S105 - a marker, not a secret
_DISCOVERY_TTL_S = 300.0
_discovery: dict[str, tuple[float, dict[str, Any], jwt.PyJWKSet]] = {}


def _provider(ctx: AppContext, name: str) -> OidcProvider:
    for provider in ctx.config.oidc_providers:
        if provider.name == name:
            return provider
    raise NotFound(f"no identity provider named {name!r}")


def _callback_url(ctx: AppContext, provider: OidcProvider) -> str:
    base = (ctx.config.public_url or "").rstrip("/")
    return f"{base}{router.prefix}/{provider.name}/callback"


async def _metadata(provider: OidcProvider) -> tuple[dict[str, Any], jwt.PyJWKSet]:
    """The provider's discovery document and signing keys (cached a few minutes)."""
    cached = _discovery.get(provider.issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            meta = (await client.get(url)).raise_for_status().json()
            keys = jwt.PyJWKSet.from_dict((await client.get(meta["jwks_uri"])).json())
    except (httpx.HTTPError, KeyError, ValueError, jwt.PyJWTError) as exc:
        raise Unavailable(f"the identity provider cannot be reached: {exc}") from None
    if meta.get("issuer") != provider.issuer:
        raise Unavailable("the identity provider's discovery names another issuer")
    _discovery[provider.issuer] = (time.monotonic() + _DISCOVERY_TTL_S, meta, keys)
    return meta, keys


def _redis(ctx: AppContext) -> Any:
    if ctx.redis is None:
        raise Unavailable("single sign-on needs Redis for its login state")
    return ctx.redis


class ProviderOut(BaseModel):
    #: The path segment of `/api/v1/auth/oidc/{name}/login`.
    name: str
    #: What a log-in button says: the name with separators as spaces, capitalised.
    label: str


class ProvidersOut(BaseModel):
    items: list[ProviderOut]


def provider_label(name: str) -> str:
    """`google` → `Google`, `azure-ad` → `Azure ad`: a button label from the name."""
    words = name.replace("-", " ").replace("_", " ").split()
    return " ".join(words).capitalize() if words else name


@router.get("/providers", response_model=ProvidersOut)
async def list_providers(ctx: Ctx) -> Response:
    """The configured providers in configuration order, `{"items": [{name, label}]}`.

    Public and read-only: it names no issuer, client or domain, only what the
    log-in buttons need. Empty when single sign-on is not configured."""
    items = [{"name": p.name, "label": provider_label(p.name)} for p in ctx.config.oidc_providers]
    return json_response({"items": items})


def _local_path(value: str | None) -> str | None:
    """`return_to` must be a path on this site (no scheme, host or `//`), so the
    callback cannot be made to hand tokens to another site."""
    if value is None:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value or "#" in value:
        raise InvalidInput("return_to must be a path on this site, such as /login")
    return value


@router.get("/{provider}/login", response_class=RedirectResponse, status_code=302)
async def login(
    provider: str,
    ctx: Ctx,
    return_to: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Redirect to the provider's login page. With `return_to` (a path on this
    site), the callback ends in the browser: a redirect there with the tokens in
    the URL fragment (`#access_token=…&refresh_token=…`, never sent to a server),
    or `#error=…`; without it, the callback answers JSON (API clients)."""
    found = _provider(ctx, provider)
    back = _local_path(return_to)
    meta, _ = await _metadata(found)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    record = {"provider": found.name, "nonce": nonce, "verifier": verifier, "return_to": back}
    await _redis(ctx).set(f"oidc:state:{state}", orjson.dumps(record), ex=STATE_TTL_S)
    query = httpx.QueryParams(
        response_type="code",
        client_id=found.client_id,
        redirect_uri=_callback_url(ctx, found),
        scope="openid email",
        state=state,
        nonce=nonce,
        code_challenge=challenge.decode().rstrip("="),
        code_challenge_method="S256",
    )
    return RedirectResponse(f"{meta['authorization_endpoint']}?{query}", status_code=302)


async def _exchange(
    ctx: AppContext, provider: OidcProvider, meta: dict[str, Any], code: str, verifier: str
) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            r = await client.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": _callback_url(ctx, provider),
                    "code_verifier": verifier,
                },
                auth=(provider.client_id, provider.client_secret),
            )
    except httpx.HTTPError as exc:
        raise Unavailable(f"the identity provider cannot be reached: {exc}") from None
    if r.status_code != 200 or "id_token" not in r.json():
        raise Unauthenticated("the identity provider refused the login code")
    tokens: dict[str, Any] = r.json()
    return tokens


async def _userinfo(meta: dict[str, Any], access_token: str, subject: str) -> dict[str, Any]:
    """Claims from the UserInfo endpoint (a conforming provider puts `email` there
    rather than in the ID token); they must be about the ID token's subject."""
    endpoint = meta.get("userinfo_endpoint")
    if not endpoint:
        return {}
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            r = await client.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        raise Unavailable(f"the identity provider cannot be reached: {exc}") from None
    info: dict[str, Any] = r.json() if r.status_code == 200 else {}
    return info if str(info.get("sub")) == subject else {}


def _verify_id_token(
    token: str, provider: OidcProvider, meta: dict[str, Any], keys: jwt.PyJWKSet, nonce: str
) -> dict[str, Any]:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = next(k for k in keys.keys if kid is None or k.key_id == kid)
        algorithms = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[a for a in algorithms if a != "none"],
            audience=provider.client_id,
            issuer=provider.issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=30,
        )
    except (StopIteration, jwt.PyJWTError) as exc:
        raise Unauthenticated(f"invalid ID token: {exc}") from None
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise Unauthenticated("the ID token's nonce is not the one this login sent")
    return claims


@router.get("/{provider}/callback")
async def callback(
    provider: str,
    request: Request,
    ctx: Ctx,
    code: str = Query(max_length=2048),
    state: str = Query(max_length=256),
) -> Response:
    """Finish the login: 401 for an unknown, reused or expired `state`, a refused
    code or a bad ID token; 403 when no account may be linked or provisioned."""
    found = _provider(ctx, provider)
    raw = await _redis(ctx).getdel(f"oidc:state:{state}")
    record = orjson.loads(raw) if raw else None
    if record is None or record["provider"] != found.name:
        raise Unauthenticated("unknown or expired login state; start again")
    back: str | None = record.get("return_to")
    try:
        meta, keys = await _metadata(found)
        tokens = await _exchange(ctx, found, meta, code, record["verifier"])
        claims = _verify_id_token(tokens["id_token"], found, meta, keys, record["nonce"])
        if "email" not in claims and "access_token" in tokens:
            info = await _userinfo(meta, tokens["access_token"], str(claims["sub"]))
            claims |= {k: info[k] for k in ("email", "email_verified") if k in info}
        body = await _log_in(ctx, found, claims, request)
    except DomainError as exc:
        if back is None:
            raise
        return _back_to(back, {"error": exc.detail})
    if back is None:
        return json_response(body)
    return _back_to(back, {k: str(v) for k, v in body.items()})


def _back_to(path: str, fragment: dict[str, str]) -> Response:
    """A 303 to `path` carrying `fragment` after `#`, uncached (it may hold tokens)."""
    target = f"{path}#{urlencode(fragment)}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


async def _log_in(
    ctx: AppContext, provider: OidcProvider, claims: dict[str, Any], request: Request
) -> dict[str, Any]:
    subject = str(claims["sub"])
    email = str(claims.get("email") or "")
    verified = claims.get("email_verified") is True and "@" in email
    domains = dict(provider.domains)
    async with ctx.engine.begin() as conn:
        user_id = await identities.linked_user(conn, provider=provider.name, subject=subject)
        action = "auth.oidc_login"
        if user_id is None and verified:
            user_id = await identities.active_user_by_email(conn, email)
            action = "user.oidc_linked"
        if user_id is None and verified and email.rsplit("@", 1)[1].lower() in domains:
            org_id = UUID(domains[email.rsplit("@", 1)[1].lower()])
            if not await identities.org_exists(conn, org_id):
                raise Forbidden("the organisation for this email domain does not exist")
            name = email.split("@", 1)[0]
            user_id = await accounts.create_user(
                conn, email=email, name=name, password_hash=NO_PASSWORD
            )
            await memberships.add_member(conn, org_id=org_id, user_id=user_id, role="member")
            action = "user.oidc_provisioned"
        if user_id is None:
            raise Forbidden(
                "no account for this login: the email is unverified or its domain is not set up"
            )
        await identities.link(conn, provider=provider.name, subject=subject, user_id=user_id)
        org_id_or_none = await identities.first_org(conn, user_id)
        if org_id_or_none is None:
            raise Forbidden("this account belongs to no organisation")
        await accounts.audit(
            conn,
            org_id=org_id_or_none,
            actor_id=user_id,
            action=action,
            target_type="user",
            target_id=str(user_id),
            client_ip=caller_ip(request),
            details={"provider": provider.name},
        )
        tokens = await issue_tokens(conn, ctx, Principal(user_id=user_id, org_id=org_id_or_none))
    return {"user_id": str(user_id), "org_id": str(org_id_or_none), **tokens}
