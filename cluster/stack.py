"""Start and stop the whole stack: database, cache, Ray, the project hosts, Serve.

`Stack` is what `taskhive up` runs and what the integration tests start once per
session; both go through the same code. Embedded PostgreSQL/Redis are started
only when no URL is configured.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.settings import Settings
from serve_app.config import AppConfig, OidcProvider
from storage.embedded import EmbeddedPostgres, EmbeddedRedis
from storage.migrate import upgrade

if TYPE_CHECKING:
    from actors.router import HostConfig
    from realtime.webhooks import WebhookConfig

log = logging.getLogger(__name__)

APP_NAME = "taskhive"
REALTIME_APP = "taskhive-realtime"

#: Serve tuned for throughput: HAProxy in front of replicas that take HTTP
#: directly, user code on the replica's own event loop, no per-request access log.
SERVE_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_ENABLE_ACCESS_LOG": "0",
    "RAY_SERVE_LOG_TO_STDERR": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Replicas stop taking new connections at once on shutdown instead of draining
    # for 30 s: HAProxy already routes around a stopping replica.
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
    # A proxy starting HAProxy on a busy node can take longer than Serve's 5 s
    # ready check (10 s health check); past it the controller kills the proxy and
    # the deployment fails. Generous limits: a stuck proxy is still found.
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
    "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "30",
    # Ray's own idle work, measured on an idle stack: 15 % of a CPU, 10 % with
    # these two. The Serve controller reconciles every 0.5 s instead of 0.1 s
    # (replica health checks run every 10 s anyway), and Ray does not collect
    # its internal metrics, which nothing here reads: Taskhive's own are
    # served at /metrics (serve_app.metrics). Either can be set otherwise in
    # the environment.
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
    "RAY_enable_metrics_collection": "0",
    # HAProxy logs every request to Serve's HAProxy manager, which parses the line
    # into Ray metrics: 4-5 % of a CPU at 450 requests/s, for metrics that Ray does
    # not collect here (the line above) and that Taskhive's own /metrics already
    # has per route.
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
}

#: SERVE_ENV entries an operator's environment wins over.
_OVERRIDABLE = (
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S",
    "RAY_enable_metrics_collection",
    "RAY_SERVE_HAPROXY_METRICS_ENABLED",
)


@dataclass
class Stack:
    settings: Settings
    database_url: str = ""
    redis_url: str | None = None
    _embedded: list[Any] = field(default_factory=list)
    _ray_started: bool = False

    @property
    def url(self) -> str:
        """Where this machine reaches the API (a wildcard bind address on loopback)."""
        return f"http://{_reachable(self.settings.http_host)}:{self.settings.port}"

    def start_storage(self) -> None:
        """Use the configured database/Redis, or start embedded ones in the data dir."""
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.database_url:
            self.database_url = self.settings.database_url
        else:
            pg = EmbeddedPostgres(data_dir / "postgres")
            self._embedded.append(pg)
            self.database_url = pg.start()
        if self.settings.redis_url:
            self.redis_url = self.settings.redis_url
        else:
            rd = EmbeddedRedis(data_dir / "redis")
            self._embedded.append(rd)
            self.redis_url = rd.start()
        upgrade(self.database_url)

    def start_compute(self, *, num_cpus: int | None = None) -> None:
        """Start a local Ray (or join `RAY_ADDRESS`) and deploy the API."""
        import ray
        from ray import serve

        from serve_app.app import REALTIME_PREFIX, ApiIngress, RealtimeIngress

        env = {**SERVE_ENV, **_instance_ports_env()}
        env.update({k: os.environ[k] for k in _OVERRIDABLE if k in os.environ})
        os.environ.update(env)
        if not ray.is_initialized():
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                # JSON logs with request ids in every worker (serve_app.logging).
                runtime_env={
                    "env_vars": env,
                    "worker_process_setup_hook": "serve_app.logging.configure_worker",
                },
                _temp_dir=str(_ray_temp_dir()),
            )
            self._ray_started = True
        serve.start(
            # The address HAProxy and the replicas' own listeners bind (ADR 002).
            http_options={"host": self.settings.http_host, "port": self.settings.port},
            logging_config={"enable_access_log": False, "log_level": "WARNING"},
        )
        config = self.app_config()
        app = ApiIngress.options(num_replicas=self.settings.replicas).bind(config)  # type: ignore[attr-defined]
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        if self.settings.realtime_replicas:
            realtime = RealtimeIngress.options(  # type: ignore[attr-defined]
                num_replicas=self.settings.realtime_replicas
            ).bind(config)
            serve.run(realtime, name=REALTIME_APP, route_prefix=REALTIME_PREFIX, blocking=False)
            _wait_running(REALTIME_APP)
        _wait_http(self.url + "/healthz")
        self.start_outbox()

    def app_config(self) -> AppConfig:
        """What the API replicas are deployed with (also used by `cluster.serve_entry`)."""
        return AppConfig(
            database_url=self.database_url,
            redis_url=self.redis_url,
            jwt_secret=self.settings.resolved_jwt_secret(),
            hosts=self.settings.hosts,
            idle_seconds=self.settings.idle_seconds,
            access_token_ttl_s=self.settings.access_token_ttl_s,
            db_pool_size=self.settings.db_pool_size,
            ws_queue_limit=self.settings.ws_queue_limit,
            ws_replay_limit=self.settings.ws_replay_limit,
            ws_reauthorize_s=self.settings.ws_reauthorize_s,
            ws_compression=self.settings.ws_compression,
            auth_cache_s=self.settings.auth_cache_s,
            task_ref_cache_entries=self.settings.task_ref_cache_entries,
            rate_limit_per_min=self.settings.rate_limit_per_min,
            login_account_free_failures=self.settings.login_account_free_failures,
            login_ip_free_failures=self.settings.login_ip_free_failures,
            login_lock_base_s=self.settings.login_lock_base_s,
            login_lock_max_s=self.settings.login_lock_max_s,
            login_failure_window_s=self.settings.login_failure_window_s,
            trust_forwarded_for=self.settings.trust_forwarded_for,
            forwarded_for_hops=self.settings.forwarded_for_hops,
            metrics_token=self.settings.metrics_token or None,
            blobs=self.settings.blob_config(),
            attachment_max_bytes=self.settings.attachment_max_bytes,
            org_storage_quota_bytes=self.settings.org_storage_quota_bytes,
            smtp_url=self.settings.smtp_url,
            smtp_from=self.settings.smtp_from,
            mail_dir=str((self.settings.data_dir / "mail").resolve()),
            public_url=self.settings.public_url or self.url,
            invitation_ttl_s=self.settings.invitation_ttl_s,
            oidc_providers=tuple(
                OidcProvider(
                    name=o["name"],
                    issuer=o["issuer"],
                    client_id=o["client_id"],
                    client_secret=o["client_secret"],
                    domains=tuple(sorted(o.get("domains", {}).items())),
                )
                for o in self.settings.oidc_providers
            ),
            jwt_private_key=(
                self.settings.jwt_private_key_file.read_text()
                if self.settings.jwt_private_key_file
                else None
            ),
            webhook_allow_private=self.settings.webhook_allow_private,
        )

    def start_outbox(self) -> None:
        """Start (or find) the outbox relay actor with its consumers (notifications)."""
        from actors.import_runner import ImportResumerConfig
        from actors.outbox import OutboxConfig, ensure_outbox
        from actors.respread import RespreadConfig
        from realtime.automation import AutomationConfig
        from realtime.blob_collector import CollectorConfig
        from realtime.housekeeping import HousekeepingConfig
        from realtime.notify_consumer import NotifyConfig
        from reports.consumer import ReportsConfig
        from search.actor import SearchConfig, ensure_search
        from search.consumer import SearchConsumerConfig

        s = self.settings
        ensure_search(
            SearchConfig(
                database_url=self.database_url,
                index_dir=str((s.data_dir / "search").resolve()),
                shards=s.search_shards,
                commit_interval_s=s.search_commit_interval_s,
                commit_max_interval_s=s.search_commit_max_interval_s,
            )
        )
        notify = NotifyConfig(
            mail_dir=(s.data_dir / "mail").resolve(),
            public_url=s.public_url or self.url,
            unsubscribe_secret=s.resolved_jwt_secret(),
            smtp_url=s.smtp_url,
            from_addr=s.smtp_from,
            digest_window_s=s.digest_window_s,
            retry_base_s=s.email_retry_base_s,
        )
        ensure_outbox(
            OutboxConfig(
                database_url=self.database_url,
                redis_url=self.redis_url,
                consumers=(
                    notify,
                    CollectorConfig(s.blob_config()),
                    _webhook_config(s),
                    AutomationConfig(hosts=s.hosts),
                    ReportsConfig(),
                    SearchConsumerConfig(s.search_shards),
                ),
                poll_s=s.outbox_poll_s,
                nice=s.background_nice,
                chores=(
                    HousekeepingConfig(),
                    ImportResumerConfig(hosts=s.hosts),
                    RespreadConfig(self._host_config()),
                ),
            )
        )

    def _host_config(self) -> HostConfig:
        """How project hosts are created: the API replicas derive the same from
        `app_config()` (serve_app.app.make_context)."""
        from actors.router import HostConfig

        s = self.settings
        return HostConfig(
            count=s.hosts,
            database_url=self.database_url,
            redis_url=self.redis_url,
            idle_seconds=s.idle_seconds,
            pool_size=s.db_pool_size,
        )

    def stop(self) -> None:
        """Stop everything this stack started, in reverse order. Idempotent."""
        if self._ray_started:
            import ray
            from ray import serve

            try:
                serve.shutdown()  # type: ignore[no-untyped-call]
            finally:
                ray.shutdown()
                self._ray_started = False
                shutil.rmtree(_ray_temp_dir(), ignore_errors=True)
                shutil.rmtree(_haproxy_socket_dir(), ignore_errors=True)
        while self._embedded:
            self._embedded.pop().stop()


def _haproxy_socket_dir() -> Path:
    """Where this process's Serve HAProxy keeps its metrics socket (removed on stop)."""
    return Path("/tmp") / f"taskhive-haproxy-{os.getpid()}"  # noqa: S108


def _instance_ports_env() -> dict[str, str]:
    """Ports and paths Serve would otherwise fix machine-wide (HAProxy's stats and
    metrics listeners, the fallback proxy), chosen free so that several Taskhive
    instances, e.g. a test run next to a running server, can share one machine."""
    from storage.ports import free_port

    def free() -> str:
        return str(free_port())

    socket_dir = _haproxy_socket_dir()
    socket_dir.mkdir(exist_ok=True)
    return {
        "RAY_SERVE_HAPROXY_METRICS_PORT": free(),
        "RAY_SERVE_HAPROXY_STATS_PORT": free(),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": free(),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": free(),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(socket_dir / "metrics.sock"),
        "RAY_SERVE_HAPROXY_NBTHREAD": str(min(4, os.cpu_count() or 1)),
        **_haproxy_maxconn_env(),
    }


def _haproxy_maxconn_env() -> dict[str, str]:
    """Raise HAProxy's global connection cap (4,096 by default, and every open
    websocket counts) as far as the open-files limit allows: HAProxy needs about
    2.5 descriptors per connection and refuses to start without them."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    maxconn = min(100_000, int((hard - 100) / 2.5))
    return {"RAY_SERVE_HAPROXY_MAXCONN": str(maxconn)} if maxconn > 4096 else {}


def _reachable(bind_host: str) -> str:
    """A host part of a URL that reaches a listener bound to `bind_host` from here."""
    if bind_host in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def _ray_temp_dir() -> Path:
    # Ray's socket paths must stay under 107 bytes, so its session files go to a
    # short path rather than under a possibly deep data dir. One per process: two
    # instances starting at once in one temp dir race on its `session_latest`.
    path = Path("/tmp") / f"taskhive-ray-{os.getuid()}-{os.getpid()}"  # noqa: S108
    path.mkdir(exist_ok=True)
    return path


def _wait_running(app_name: str, timeout_s: float = 60.0) -> None:
    """Until Serve reports the application running (its replicas answer)."""
    from ray import serve

    def running() -> bool:
        app = serve.status().applications.get(app_name)
        return app is not None and app.status == "RUNNING"

    _wait_until(running, f"the Serve application {app_name}", timeout_s)


def _wait_http(url: str, timeout_s: float = 60.0) -> None:
    import httpx

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_until(answers, url, timeout_s)


def _wait_until(ready: Callable[[], bool], what: str, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {timeout_s:.0f} s")
        time.sleep(0.2)


def _webhook_config(s: Settings) -> WebhookConfig:
    from datetime import timedelta

    from domain.webhooks import RetryPolicy
    from realtime.webhooks import WebhookConfig

    return WebhookConfig(
        allow_private=s.webhook_allow_private,
        timeout_s=s.webhook_timeout_s,
        retry=RetryPolicy(
            base=timedelta(seconds=s.webhook_retry_base_s),
            give_up_after=timedelta(seconds=s.webhook_give_up_s),
            disable_after=s.webhook_disable_after,
        ),
    )
