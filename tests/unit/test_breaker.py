"""Circuit breaker: opens after consecutive outage errors, fails fast while open,
lets one trial through after the reset time, and closes on success."""

from __future__ import annotations

import asyncio
import pickle

import asyncpg
import pytest
import redis.exceptions
import sqlalchemy.exc

from domain.errors import NotFound, Unavailable
from storage.breaker import (
    Breaker,
    BreakerState,
    DependencyUnavailable,
    as_unavailable,
    breaker,
    is_outage,
)


class Calls:
    def __init__(self) -> None:
        self.count = 0

    async def refused(self) -> None:
        self.count += 1
        raise ConnectionRefusedError("connection refused")

    async def ok(self) -> str:
        self.count += 1
        return "ok"

    async def hang(self) -> None:
        self.count += 1
        await asyncio.sleep(10)


def _state(b: Breaker) -> BreakerState:
    """The state read afresh: calls on the breaker change it, which mypy's narrowing
    of `b.state` after an earlier assert does not know."""
    return b.state


async def test_opens_after_the_threshold_and_then_fails_without_calling() -> None:
    b = Breaker("postgresql", threshold=3, reset_s=60)
    calls = Calls()
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            await b.call(calls.refused())
    assert b.state is BreakerState.OPEN
    with pytest.raises(DependencyUnavailable) as refused:
        await b.call(calls.refused())
    assert calls.count == 3, "an open breaker must not touch the dependency"
    assert refused.value.retry_after >= 59
    assert isinstance(refused.value, Unavailable) and refused.value.status == 503


async def test_half_open_admits_one_trial_and_success_closes() -> None:
    b = Breaker("redis", threshold=1, reset_s=0.05)
    calls = Calls()
    with pytest.raises(DependencyUnavailable):
        await b.call(calls.refused())
    await asyncio.sleep(0.06)
    assert b.state is BreakerState.HALF_OPEN
    b.check()  # the one trial is admitted...
    with pytest.raises(DependencyUnavailable):
        b.check()  # ...and everyone else still waits
    b.success()
    assert _state(b) is BreakerState.CLOSED
    assert await b.call(calls.ok()) == "ok"


async def test_a_failed_trial_opens_again_at_once() -> None:
    b = Breaker("s3", threshold=5, reset_s=0.05)
    calls = Calls()
    for _ in range(5):
        with pytest.raises(DependencyUnavailable):
            await b.call(calls.refused())
    await asyncio.sleep(0.06)
    with pytest.raises(DependencyUnavailable):
        await b.call(calls.refused())  # the trial: one failure is enough
    assert b.state is BreakerState.OPEN
    assert calls.count == 6


async def test_a_time_limit_counts_as_a_failure() -> None:
    b = Breaker("smtp", threshold=1, reset_s=60, timeout_s=0.05)
    calls = Calls()
    with pytest.raises(DependencyUnavailable):
        await b.call(calls.hang())
    assert b.state is BreakerState.OPEN


async def test_answers_that_are_errors_pass_through_and_do_not_count() -> None:
    b = Breaker("postgresql", threshold=1, reset_s=60)

    async def missing() -> None:
        raise NotFound("no such row")

    async def constraint() -> None:
        raise sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))

    for call in (missing, constraint):
        with pytest.raises((NotFound, sqlalchemy.exc.IntegrityError)):
            await b.call(call())
    assert b.state is BreakerState.CLOSED


async def test_a_cancelled_trial_lets_the_next_caller_try() -> None:
    b = Breaker("redis", threshold=1, reset_s=0.01)
    calls = Calls()
    with pytest.raises(DependencyUnavailable):
        await b.call(calls.refused())
    await asyncio.sleep(0.02)
    trial = asyncio.create_task(b.call(calls.hang()))
    await asyncio.sleep(0.01)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    assert await b.call(calls.ok()) == "ok"


def test_outage_errors_are_told_from_answers() -> None:
    wrapped = sqlalchemy.exc.DBAPIError(
        "SELECT 1", {}, asyncpg.exceptions.ConnectionDoesNotExistError("closed")
    )
    for exc in (
        ConnectionRefusedError(),
        TimeoutError(),
        OSError("network unreachable"),
        asyncpg.exceptions.CannotConnectNowError("starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating"),
        wrapped,
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.TimeoutError("slow"),
    ):
        assert is_outage(exc), exc
    for exc in (
        NotFound("x"),
        ValueError("bug"),
        sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate")),
        redis.exceptions.ResponseError("WRONGTYPE"),
    ):
        assert not is_outage(exc), exc


def test_as_unavailable_maps_outages_to_503_and_leaves_bugs_alone() -> None:
    mapped = as_unavailable(ConnectionResetError(), "redis")
    assert isinstance(mapped, DependencyUnavailable) and "redis" in mapped.detail
    assert as_unavailable(ValueError("bug")) is None
    error = NotFound("x")
    assert as_unavailable(error) is error


def test_dependency_unavailable_crosses_process_boundaries_intact() -> None:
    error = pickle.loads(pickle.dumps(DependencyUnavailable("postgresql is down", 7)))
    assert isinstance(error, DependencyUnavailable)
    assert (error.detail, error.retry_after) == ("postgresql is down", 7)
    assert error.as_json()["retry_after"] == 7


def test_breakers_are_per_dependency_and_target() -> None:
    assert breaker("postgresql", "a:1") is breaker("postgresql", "a:1")
    assert breaker("postgresql", "a:1") is not breaker("postgresql", "b:2")


async def test_refuse_if_open_never_takes_the_trial() -> None:
    b = Breaker("s3", threshold=1, reset_s=0.05)
    b.refuse_if_open()  # closed: nothing
    with pytest.raises(DependencyUnavailable):
        await b.call(Calls().refused())
    with pytest.raises(DependencyUnavailable) as refused:
        b.refuse_if_open()
    assert refused.value.retry_after >= 1
    await asyncio.sleep(0.06)
    b.refuse_if_open()  # half-open: let it be...
    b.check()  # ...the trial is still there for a real call
