"""Settings from the environment (prefix `TASKHIVE_`) and the data directory.

With no `DATABASE_URL` / `REDIS_URL`, `taskhive up` starts an embedded PostgreSQL
and Redis inside the data directory. `JWT_SECRET`, when unset, is generated once
and kept in the data directory so tokens survive restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKHIVE_", extra="ignore")

    database_url: str | None = Field(default=None, description="PostgreSQL URL; embedded if unset")
    redis_url: str | None = Field(default=None, description="Redis URL; embedded if unset")
    data_dir: Path = Field(default=Path(".taskhive"), description="where local state lives")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    jwt_secret: str | None = Field(default=None, description="HS256 key; generated if unset")
    hosts: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024)
    idle_seconds: float = Field(default=600.0, gt=0, description="grain passivation delay")
    replicas: int = Field(default=1, ge=1, le=64, description="HTTP API replicas")
    access_token_ttl_s: int = Field(default=900, ge=30)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    ws_queue_limit: int = Field(default=1000, ge=8, description="per-session send queue")
    ws_replay_limit: int = Field(default=1000, ge=1, description="events a resume may replay")
    ws_reauthorize_s: float = Field(
        default=30.0, gt=0, description="how often sessions re-check their subscriptions"
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
