"""The Serve application builder for cluster deployments (`cluster/serve-config.yaml`).

`serve deploy cluster/serve-config.yaml` (or KubeRay's `RayService`) imports
`cluster.serve_entry:app` (the HTTP API, route prefix `/`) and
`cluster.serve_entry:realtime` (the websocket sessions, route prefix
`/api/v1/ws`) and calls each with its application's `args`. Settings come
from `TASKHIVE_*` environment variables as for `taskhive up`, but nothing is
embedded: `TASKHIVE_DATABASE_URL` and `TASKHIVE_REDIS_URL` are required, the
schema must already be migrated (`taskhive migrate`, run once per release before
the rollout), and `TASKHIVE_JWT_SECRET` must be set (every replica must sign
with the same key).

Replica counts, autoscaling, health checks and graceful shutdown are the
config file's business, not this module's.
"""

from __future__ import annotations

from typing import Any

from cluster.settings import Settings
from cluster.stack import Stack


def _settings(args: dict[str, Any]) -> Settings:
    settings = Settings(**args)
    missing = [
        name
        for name, value in (
            ("TASKHIVE_DATABASE_URL", settings.database_url),
            ("TASKHIVE_REDIS_URL", settings.redis_url),
            ("TASKHIVE_JWT_SECRET", settings.jwt_secret),
        )
        if not value
    ]
    if missing:
        raise RuntimeError(f"cluster mode needs {', '.join(missing)}")
    return settings


def _stack(settings: Settings) -> Stack:
    return Stack(settings, database_url=settings.database_url or "", redis_url=settings.redis_url)


def app(args: dict[str, Any]) -> Any:
    """Build the bound API deployment; also makes sure the outbox relay runs."""
    from serve_app.app import ApiIngress

    stack = _stack(_settings(args))
    stack.start_outbox()
    return ApiIngress.bind(stack.app_config())  # type: ignore[attr-defined]


def realtime(args: dict[str, Any]) -> Any:
    """Build the bound websocket deployment (mount it at `serve_app.app.REALTIME_PREFIX`)."""
    from serve_app.app import RealtimeIngress

    return RealtimeIngress.bind(_stack(_settings(args)).app_config())  # type: ignore[attr-defined]
