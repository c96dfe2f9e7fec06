"""What the API needs to know, passed in by whoever deploys it (see `cluster.stack`)."""

from __future__ import annotations

from dataclasses import dataclass

from serve_app.task_refs import CACHE_ENTRIES
from storage.blobs import BlobConfig


@dataclass(frozen=True, slots=True)
class AppConfig:
    database_url: str
    redis_url: str | None
    jwt_secret: str
    hosts: int = 2
    idle_seconds: float = 600.0
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    db_pool_size: int = 10
    ws_queue_limit: int = 1000
    ws_replay_limit: int = 1000
    # -- identity and limits (see serve_app.authn, serve_app.ratelimit) --
    auth_cache_s: float = 5.0
    #: Task references an API replica keeps resolved (`serve_app.task_refs.RefCache`).
    task_ref_cache_entries: int = CACHE_ENTRIES
    rate_limit_per_min: int = 1000
    login_account_free_failures: int = 5
    login_ip_free_failures: int = 50
    login_lock_base_s: float = 1.0
    login_lock_max_s: float = 900.0
    login_failure_window_s: float = 900.0
    #: Whether a load balancer in front writes `X-Forwarded-For` (the only source of
    #: client addresses: see serve_app.ratelimit_middleware), and how many entries
    #: it appends (the client's is `forwarded_for_hops` from the end).
    trust_forwarded_for: bool = False
    forwarded_for_hops: int = 1
    ws_reauthorize_s: float = 30.0
    #: Whether the replica's websocket listener offers permessage-deflate
    #: (`serve_app.replica_server`).
    ws_compression: bool = False
    #: Where attachment bytes go; None: a `blobs` directory under the working directory.
    blobs: BlobConfig | None = None
    attachment_max_bytes: int = 100 * 1024 * 1024
    org_storage_quota_bytes: int = 10 * 1024**3
    #: Whether webhooks may target loopback/private addresses (a self-hosted network).
    webhook_allow_private: bool = False
    # -- invitations (serve_app.routes.invitations) --
    #: Where invitation emails go: SMTP when set, else .eml files in `mail_dir`.
    smtp_url: str | None = None
    smtp_from: str = "Taskhive <taskhive@localhost>"
    mail_dir: str = "mail"
    #: Base URL of links in emails (the accept page); None: links are relative.
    public_url: str | None = None
    invitation_ttl_s: int = 7 * 24 * 3600
    #: An Ed25519 private key (PEM): sign access tokens with EdDSA and publish the
    #: public key at /.well-known/jwks.json. None: HS256 with `jwt_secret`.
    jwt_private_key: str | None = None
    #: OpenID Connect providers users may log in with (serve_app.routes.oidc).
    oidc_providers: tuple[OidcProvider, ...] = ()
    #: `GET /metrics` requires `Authorization: Bearer <metrics_token>` when set.
    metrics_token: str | None = None


@dataclass(frozen=True, slots=True)
class OidcProvider:
    """An OpenID Provider: `name` appears in the login URL; `domains` maps a verified
    email domain to the organisation a new user of that domain joins (as `member`)."""

    name: str
    issuer: str
    client_id: str
    client_secret: str
    domains: tuple[tuple[str, str], ...] = ()
