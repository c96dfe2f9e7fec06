"""Time limits and circuit breakers for calls to PostgreSQL, Redis, S3 and SMTP.

An outage must give fast, clear errors instead of requests that hang until a
client gives up. Every call to a dependency has a time limit; a `Breaker`
counts consecutive failures (refused, reset, over the limit) and, past a
threshold, *opens*: calls fail at once with `DependencyUnavailable` (a 503 with
`Retry-After`) without touching the network. After `reset_s` it lets one trial
call through (*half-open*); a success closes it again, so recovery is
automatic.

    Unavailable (domain, 503)
     └── DependencyUnavailable   a dependency is down; `retry_after` seconds

Breakers are per process and per dependency name (`breaker("postgresql")`):
each replica and host learns of an outage from its own calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from enum import IntEnum
from typing import Any, TypeVar

from domain.errors import DomainError, Unavailable
from storage import telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Default time limits per dependency, in seconds.
LIMITS_S = {"postgresql": 5.0, "redis": 1.0, "s3": 10.0, "smtp": 30.0}


class DependencyUnavailable(Unavailable):
    """A dependency is down or over its time limit: retry after `retry_after` s.

    Not retried by the project router: retrying into an outage only makes the
    client wait longer for the same answer.
    """

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.retry_after))

    def extra(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Breaker:
    """A consecutive-failure circuit breaker. Safe to share within one event loop."""

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        reset_s: float = 2.0,
        timeout_s: float | None = None,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_s = reset_s
        self.timeout_s = timeout_s if timeout_s is not None else LIMITS_S.get(name, 5.0)
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False
        self._set(BreakerState.CLOSED)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and time.monotonic() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return self._state

    def _set(self, state: BreakerState) -> None:
        self._state = state
        telemetry.BREAKER_STATE.labels(self.name).set(int(state))

    def retry_after(self) -> int:
        remaining = self.reset_s - (time.monotonic() - self._opened_at)
        return max(1, int(remaining + 0.999))

    def check(self) -> None:
        """Raise `DependencyUnavailable` at once if calls are refused right now.

        While half-open, exactly one caller passes (the trial); the others wait
        for its outcome outside, as if the breaker were still open.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return
        telemetry.BREAKER_REJECTIONS.labels(self.name).inc()
        raise DependencyUnavailable(
            f"{self.name} is unavailable; retry shortly", retry_after=self.retry_after()
        )

    def refuse_if_open(self) -> None:
        """Raise `DependencyUnavailable` while the breaker is open, without taking
        the half-open trial: for work that does not call the dependency itself
        but is useless while it is down (a presigned link to an unreachable S3)."""
        if self.state is BreakerState.OPEN:
            telemetry.BREAKER_REJECTIONS.labels(self.name).inc()
            raise DependencyUnavailable(
                f"{self.name} is unavailable; retry shortly", retry_after=self.retry_after()
            )

    def success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            log.warning("%s is reachable again; breaker closed", self.name)
        self._failures = 0
        self._trial = False
        self._set(BreakerState.CLOSED)

    def failure(self, exc: BaseException) -> None:
        telemetry.DEPENDENCY_FAILURES.labels(self.name).inc()
        self._failures += 1
        self._trial = False
        if self._failures >= self.threshold or self._state is not BreakerState.CLOSED:
            if self._state is BreakerState.CLOSED:
                log.warning(
                    "%s failing (%s); breaker open for %.1f s",
                    self.name,
                    type(exc).__name__,
                    self.reset_s,
                )
            self._opened_at = time.monotonic()
            self._set(BreakerState.OPEN)

    def unavailable(self, exc: BaseException) -> DependencyUnavailable:
        """The error a caller gets for a failed call (the breaker already counted it)."""
        return DependencyUnavailable(
            f"{self.name} is unavailable ({type(exc).__name__}); retry shortly",
            retry_after=self.retry_after() if self._state is BreakerState.OPEN else 1,
        )

    async def call(self, awaitable: Awaitable[T], *, timeout_s: float | None = None) -> T:
        """Await `awaitable` within the time limit, through the breaker.

        Outage errors (see `is_outage`) and timeouts count as failures and are
        raised as `DependencyUnavailable`; other errors pass through unchanged
        and count as neither (the dependency answered).
        """
        try:
            self.check()
        except DependencyUnavailable:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never awaited: say so, without a warning
            raise
        try:
            result = await asyncio.wait_for(awaitable, timeout_s or self.timeout_s)
        except asyncio.CancelledError:
            self._trial = False  # a cancelled trial proves nothing; let another try
            raise
        except Exception as exc:
            if not is_outage(exc):
                self.success()  # it answered, if only with an error
                raise
            self.failure(exc)
            raise self.unavailable(exc) from exc
        self.success()
        return result


_breakers: dict[tuple[str, str], Breaker] = {}


def breaker(name: str, target: str = "") -> Breaker:
    """This process's breaker for dependency `name` at `target` (host:port; one
    process may use two servers of a kind), created on first use."""
    found = _breakers.get((name, target))
    if found is None:
        found = _breakers[(name, target)] = Breaker(name)
    return found


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the dependency is unreachable or too slow, rather than
    that it answered with an error (a constraint violation, a missing key)."""
    if isinstance(exc, DependencyUnavailable | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, DomainError):
        return False
    if isinstance(exc, OSError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _OUTAGE_NAMES:
        return True
    # SQLAlchemy wraps driver errors; look at what it wrapped.
    if getattr(exc, "connection_invalidated", False):
        return True
    cause = getattr(exc, "orig", None) or exc.__cause__
    return cause is not None and cause is not exc and is_outage(cause)


#: Driver errors that mean "connection lost or refused", matched by class name so
#: this module needs neither asyncpg nor redis to import.
_OUTAGE_NAMES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "InterfaceError",
        "InternalClientError",
        "AdminShutdownError",
        "CrashShutdownError",
        "TooManyConnectionsError",
        "QueryCanceledError",
        # redis-py
        "ConnectionError",
        "TimeoutError",
        "BusyLoadingError",
        # botocore
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        # aiosmtplib
        "SMTPConnectError",
        "SMTPServerDisconnected",
        "SMTPTimeoutError",
    }
)


def as_unavailable(exc: BaseException, dependency: str = "postgresql") -> DomainError | None:
    """The error to answer for `exc`: itself if it is a domain error,
    `DependencyUnavailable` if it is an outage error, else None (a bug: 500)."""
    if isinstance(exc, DomainError):
        return exc
    if not is_outage(exc):
        return None
    return DependencyUnavailable(
        f"{dependency} is unavailable ({type(exc).__name__}); retry shortly", retry_after=1
    )


#: Connections one `fast_redis` client may hold at once.
REDIS_MAX_CONNECTIONS = 256


def fast_redis(url: str, timeout_s: float | None = None) -> Any:
    """A Redis client that fails fast: short socket limits and one immediate retry
    (for a pooled connection a restart broke), not redis-py's default of three
    with up to 10 s of backoff, which turns a dead Redis into 20 s stalls.
    Callers degrade or go through `breaker`.

    Its pool waits up to the same limit for a free connection when all
    `REDIS_MAX_CONNECTIONS` are busy: redis-py's default pool instead holds 100
    and refuses the 101st concurrent call at once (`Too many connections`),
    which under a burst of requests looks like an outage of a healthy Redis."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    limit = timeout_s if timeout_s is not None else LIMITS_S["redis"]
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=limit,
        socket_timeout=limit,
        socket_connect_timeout=limit,
        retry=Retry(NoBackoff(), 1),
    )
    return aioredis.Redis.from_pool(pool)
