"""Settings from the environment (prefix `TASKHIVE_`) and the data directory.

With no `DATABASE_URL` / `REDIS_URL`, `taskhive up` starts an embedded PostgreSQL
and Redis inside the data directory. `JWT_SECRET`, when unset, is generated once
and kept in the data directory so tokens survive restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from search.cadence import CAP_S, FLOOR_S
from serve_app.task_refs import CACHE_ENTRIES
from storage.blobs import BlobConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKHIVE_", extra="ignore")

    database_url: str | None = Field(default=None, description="PostgreSQL URL; embedded if unset")
    redis_url: str | None = Field(default=None, description="Redis URL; embedded if unset")
    data_dir: Path = Field(default=Path(".taskhive"), description="where local state lives")
    http_host: str = Field(
        default="127.0.0.1",
        # TASKHIVE_HOST is the older name, still read.
        validation_alias=AliasChoices("TASKHIVE_HTTP_HOST", "TASKHIVE_HOST", "http_host"),
        description="where Serve's HTTP proxy and the API replicas listen; 0.0.0.0 on a "
        "cluster (the proxy of every node and the replicas must be reachable from others)",
    )
    port: int = Field(default=8000, ge=1, le=65535)
    jwt_secret: str | None = Field(default=None, description="HS256 key; generated if unset")
    jwt_private_key_file: Path | None = Field(
        default=None,
        description="Ed25519 PEM: sign access tokens with EdDSA, publish /.well-known/jwks.json",
    )
    hosts: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024)
    idle_seconds: float = Field(default=600.0, gt=0, description="grain passivation delay")
    replicas: int = Field(default=1, ge=1, le=64, description="HTTP API replicas")
    realtime_replicas: int = Field(
        default=1,
        ge=0,
        le=64,
        description="replicas that hold only websocket sessions; 0: the API replicas hold them",
    )
    background_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="CPU niceness of the event consumers (search indexing, notifications, "
        "reports, webhooks): under load the requests' processes come first",
    )
    access_token_ttl_s: int = Field(default=900, ge=30)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    ws_queue_limit: int = Field(default=1000, ge=8, description="per-session send queue")
    ws_replay_limit: int = Field(default=1000, ge=1, description="events a resume may replay")
    ws_reauthorize_s: float = Field(
        default=30.0, gt=0, description="how often sessions re-check their subscriptions"
    )
    ws_compression: bool = Field(
        default=False,
        description="offer permessage-deflate to websocket clients (CPU and ~64 KiB per session)",
    )

    # -- notifications -----------------------------------------------------------
    smtp_url: str | None = Field(
        default=None, description="smtp://[user:pass@]host:port; unset: .eml files in data_dir/mail"
    )
    smtp_from: str = Field(default="Taskhive <taskhive@localhost>", description="From: of emails")
    public_url: str | None = Field(
        default=None, description="base URL in emails (unsubscribe links); default the API URL"
    )
    digest_window_s: float = Field(
        default=120.0, ge=0, description="notifications arriving within this share one email"
    )
    email_retry_base_s: float = Field(
        default=30.0, gt=0, description="first retry delay after an SMTP failure (doubles)"
    )
    outbox_poll_s: float = Field(default=0.2, gt=0, description="outbox relay poll interval")

    # -- search --------------------------------------------------------------------
    search_shards: int = Field(
        default=1,
        ge=1,
        le=256,
        description="search index actors; organisations are hashed over them",
    )
    search_commit_interval_s: float = Field(
        default=FLOOR_S, gt=0, description="how soon an idle search index commits a change"
    )
    search_commit_max_interval_s: float = Field(
        default=CAP_S,
        gt=0,
        description="the longest a busy search index waits between commits (search.cadence)",
    )

    # -- identity and limits ---------------------------------------------------------
    auth_cache_s: float = Field(
        default=5.0, ge=0, description="how long a replica trusts a user's/API token's standing"
    )
    task_ref_cache_entries: int = Field(
        default=CACHE_ENTRIES,
        ge=1000,
        description="task references each API replica keeps resolved to their project",
    )
    rate_limit_per_min: int = Field(default=1000, ge=1, description="requests per user (or IP)")
    login_account_free_failures: int = Field(default=5, ge=1, description="before lockout")
    login_ip_free_failures: int = Field(default=50, ge=1, description="before an IP is locked")
    login_lock_base_s: float = Field(default=1.0, gt=0, description="first lockout; doubles")
    login_lock_max_s: float = Field(default=900.0, gt=0, description="longest lockout")
    login_failure_window_s: float = Field(
        default=900.0, gt=0, description="failed logins are forgotten after this quiet time"
    )
    trust_forwarded_for: bool = Field(
        default=False,
        description="client IPs from X-Forwarded-For, written by a load balancer in front; "
        "unset: client IPs are unknown and anonymous requests are not limited per IP",
    )
    forwarded_for_hops: int = Field(
        default=1,
        ge=1,
        le=16,
        description="X-Forwarded-For entries your load balancers append; the client's "
        "is this many from the end",
    )
    metrics_token: str | None = Field(
        default=None, description="bearer token GET /metrics requires; unset: none"
    )
    invitation_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="how long an invitation email's link works"
    )
    oidc_providers: list[dict[str, Any]] = Field(
        default_factory=list,
        description='JSON: [{"name", "issuer", "client_id", "client_secret", '
        '"domains": {"acme.com": "<org id>"}}] for OpenID Connect login',
    )

    # -- attachments ---------------------------------------------------------------
    s3_endpoint_url: str | None = Field(default=None, description="S3 API URL; AWS if unset")
    s3_bucket: str | None = Field(default=None, description="S3 bucket; unset: data_dir/blobs")
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_public_base_url: str | None = Field(
        default=None, description="base URL presigned download links are made for (a CDN)"
    )
    s3_connect_timeout_s: float = Field(
        default=2.0, gt=0, description="time limit to connect to S3, per attempt"
    )
    s3_read_timeout_s: float = Field(
        default=10.0, gt=0, description="time limit for S3 to answer, per attempt"
    )
    s3_max_attempts: int = Field(
        default=2, ge=1, le=10, description="attempts per S3 request, the first included"
    )
    attachment_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="per file")
    org_storage_quota_bytes: int = Field(
        default=10 * 1024**3, ge=0, description="attachment bytes per organisation"
    )

    # -- webhooks ------------------------------------------------------------------
    webhook_allow_private: bool = Field(
        default=False, description="let webhooks reach loopback/private addresses"
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="per delivery attempt")
    webhook_retry_base_s: float = Field(
        default=30.0, gt=0, description="first retry delay of a failed delivery (doubles)"
    )
    webhook_give_up_s: float = Field(
        default=86400.0, gt=0, description="a delivery is retried for this long"
    )
    webhook_disable_after: int = Field(
        default=50, ge=1, description="failed deliveries in a row that switch a webhook off"
    )

    def blob_config(self) -> BlobConfig:
        return BlobConfig(
            local_dir=str((self.data_dir / "blobs").resolve()),
            s3_endpoint_url=self.s3_endpoint_url,
            s3_bucket=self.s3_bucket,
            s3_region=self.s3_region,
            s3_access_key_id=self.s3_access_key_id,
            s3_secret_access_key=self.s3_secret_access_key,
            s3_public_base_url=self.s3_public_base_url,
            s3_connect_timeout_s=self.s3_connect_timeout_s,
            s3_read_timeout_s=self.s3_read_timeout_s,
            s3_max_attempts=self.s3_max_attempts,
        )

    def resolved_jwt_secret(self) -> str:
        """The configured secret, or the one kept in the data dir (created on first use)."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip()
