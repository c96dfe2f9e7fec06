"""Process-local telemetry every layer may record into: metrics and the request id.

Taskhive runs in several kinds of process (API replicas, project hosts, the
outbox relay), each with its own copy of these metrics in its own registry.
`serve_app.metrics` serves `/metrics` by asking every process for a `snapshot`
and merging them, each labelled with the process it came from. The definitions
live here, in the lowest layer the others may import, so that grains, sessions
and storage code record without importing the web app.

The current request id (`REQUEST_ID`) lives here for the same reason: the API
sets it, log records and Ray task names carry it.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select

from storage import tables as t

REGISTRY = CollectorRegistry(auto_describe=True)

#: The id of the HTTP request (or websocket) being served; "" outside one.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class LoopHistogram:
    """A histogram without labels, observed from one thread only (an event loop's).

    prometheus_client's `Histogram` takes a lock twice per observation so that any
    thread may observe; at tens of thousands of observations a second (one per
    websocket frame) those locks were a seventh of a replica's time. Here an
    observation is a bisect and two additions. It is collected (read, from
    whichever thread) like any metric of the registry; a collection concurrent with
    an observation may see it in the count and not yet in the sum."""

    def __init__(
        self, name: str, documentation: str, *, buckets: tuple[float, ...], registry: Any
    ) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = (*(float(b) for b in buckets), math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        registry.register(self)

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def collect(self) -> Iterator[Metric]:
        cumulative, total = [], 0
        for bound, count in zip(self._bounds, list(self._counts), strict=True):
            total += count
            cumulative.append((floatToGoString(bound), total))  # type: ignore[no-untyped-call]
        yield HistogramMetricFamily(
            self.name, self.documentation, buckets=cumulative, sum_value=self._sum
        )


# -- API replicas --------------------------------------------------------------
HTTP_REQUEST_SECONDS = Histogram(
    "taskhive_http_request_duration_seconds",
    "HTTP request latency by route template, method and status",
    ("method", "route", "status"),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
DIRECT_LANE_REQUESTS = Counter(
    "taskhive_direct_lane_requests",
    "Requests of the busiest routes answered by the API's direct lane, by method and "
    "route template; the rest of those routes' requests went through FastAPI",
    ("method", "route"),
    registry=REGISTRY,
)
RATE_LIMIT_REJECTIONS = Counter(
    "taskhive_rate_limit_rejections",
    "Requests refused with 429 by the per-user limit or the login throttle",
    ("kind",),
    registry=REGISTRY,
)
WEBSOCKET_SESSIONS = Gauge(
    "taskhive_websocket_sessions", "Open websocket sessions", registry=REGISTRY
)
WEBSOCKET_SESSIONS_OPENED = Counter(
    "taskhive_websocket_sessions_opened",
    "Websocket sessions opened, by how their events are sent: `prepared` (each event's"
    " frame built once and written to every session) or `asgi` (per session, through"
    " the ASGI send: the server offered no frame lane)",
    ("frames",),
    registry=REGISTRY,
)
FANOUT_LAG_SECONDS = LoopHistogram(
    "taskhive_fanout_lag_seconds",
    "From an event's commit to its send on a websocket (live path)",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)

# -- project hosts ---------------------------------------------------------------
MAILBOX_DEPTH = Gauge(
    "taskhive_grain_mailbox_depth",
    "Commands queued in grain mailboxes (sum over the host's grains)",
    registry=REGISTRY,
)
MAILBOX_DEPTH_MAX = Gauge(
    "taskhive_grain_mailbox_depth_max",
    "The deepest grain mailbox on the host",
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "taskhive_group_commit_batch_size",
    "Commands decided and written by one group commit",
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
WRITE_SECONDS = Histogram(
    "taskhive_grain_write_seconds",
    "From a command entering a grain's mailbox to its answer (commit included)",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "taskhive_group_commit_seconds",
    "One group commit: the batch's database transaction",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
HOST_COMMIT_PROJECTS = Histogram(
    "taskhive_host_commit_projects",
    "Projects' batches written by one combined transaction of a host",
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
HOST_COMMIT_FALLBACKS = Counter(
    "taskhive_host_commit_fallbacks_total",
    "Combined transactions that failed before COMMIT and were written project by project",
    registry=REGISTRY,
)
ACTIVE_GRAINS = Gauge("taskhive_active_grains", "Grains held by the host", registry=REGISTRY)
ACTIVATIONS = Counter("taskhive_grain_activations", "Grain activations", registry=REGISTRY)
PASSIVATIONS = Counter(
    "taskhive_grain_passivations",
    "Grains passivated, by reason (idle, fenced, failed, shutdown)",
    ("reason",),
    registry=REGISTRY,
)

# -- outbox relay ------------------------------------------------------------------
OUTBOX_LAG_EVENTS = Gauge(
    "taskhive_outbox_lag_events",
    "Committed events a consumer has not handled yet (index lag is the search consumer's)",
    ("consumer",),
    registry=REGISTRY,
)
EMAIL_QUEUE_DEPTH = Gauge(
    "taskhive_email_queue_depth", "Emails waiting to be sent", registry=REGISTRY
)

# -- every process ---------------------------------------------------------------
DB_POOL = Gauge(
    "taskhive_db_pool_connections",
    "Database connections of this process's pool, by state",
    ("state",),
    registry=REGISTRY,
)
BREAKER_STATE = Gauge(
    "taskhive_breaker_state",
    "Circuit breaker per dependency: 0 closed, 1 half-open, 2 open",
    ("dependency",),
    registry=REGISTRY,
)
BREAKER_REJECTIONS = Counter(
    "taskhive_breaker_rejections",
    "Calls refused at once because the dependency's breaker was open",
    ("dependency",),
    registry=REGISTRY,
)
DEPENDENCY_FAILURES = Counter(
    "taskhive_dependency_failures",
    "Calls to a dependency that failed (refused, reset or over their time limit)",
    ("dependency",),
    registry=REGISTRY,
)

#: Callbacks run just before a snapshot, to set gauges from live state.
_refreshers: list[Callable[[], None]] = []


def on_snapshot(refresh: Callable[[], None]) -> None:
    """Run `refresh` before every snapshot of this process (cheap gauge updates)."""
    _refreshers.append(refresh)


_pools: weakref.WeakSet[Any] = weakref.WeakSet()


def track_pool(pool: Any) -> None:
    """Report a SQLAlchemy pool's connections (summed over the process's pools)."""
    _pools.add(pool)


def _refresh_pools() -> None:
    pools = list(_pools)
    DB_POOL.labels("checked_out").set(sum(p.checkedout() for p in pools))
    DB_POOL.labels("idle").set(sum(p.checkedin() for p in pools))
    DB_POOL.labels("size").set(sum(p.size() for p in pools))


on_snapshot(_refresh_pools)


Family = dict[str, Any]


def snapshot() -> list[Family]:
    """This process's metrics as plain data (crosses a Ray call or Redis as JSON):
    `[{"name", "type", "help", "samples": [[name, labels, value], ...]}]`."""
    for refresh in list(_refreshers):
        refresh()
    families: list[Family] = []
    seen: set[str] = set()
    # Ours, then the default registry: process memory and CPU, and metrics other
    # modules register there (the rate limiter's Redis errors).
    for metric in itertools.chain(REGISTRY.collect(), prometheus_client.REGISTRY.collect()):
        if metric.name in seen:
            continue
        seen.add(metric.name)
        samples = [
            [s.name, dict(s.labels), s.value]
            for s in metric.samples
            if not s.name.endswith("_created") and math.isfinite(s.value)
        ]
        families.append(
            {
                "name": metric.name,
                "type": metric.type,
                "help": metric.documentation,
                "samples": samples,
            }
        )
    return families


def seconds_since(iso_time: str) -> float:
    """Seconds from an event's ISO-8601 `created_at` to now (0 if unparsable or ahead)."""
    try:
        then = datetime.fromisoformat(iso_time)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


# -- gauges read from the database (by the outbox relay, at scrape time) -----------


async def read_outbox_gauges(conn: Any, consumers: list[str]) -> None:
    """Set outbox lag per consumer and the email queue depth: two cheap aggregates."""
    o = t.consumer_offsets
    for name in consumers:
        behind = t.projects.c.version - func.coalesce(o.c.version, 0)
        lag = await conn.scalar(
            select(func.coalesce(func.sum(behind), 0))
            .select_from(
                t.projects.outerjoin(
                    o, (o.c.project_id == t.projects.c.id) & (o.c.consumer == name)
                )
            )
            .where(behind > 0)
        )
        OUTBOX_LAG_EVENTS.labels(name).set(float(lag or 0))
    q = t.email_queue.c
    depth = await conn.scalar(
        select(func.count()).where(q.sent_at.is_(None), q.failed_at.is_(None))
    )
    EMAIL_QUEUE_DEPTH.set(float(depth or 0))
