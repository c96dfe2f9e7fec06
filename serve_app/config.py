"""What the API needs to know, passed in by whoever deploys it (see `cluster.stack`)."""

from __future__ import annotations

from dataclasses import dataclass


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
    ws_reauthorize_s: float = 30.0
