"""Request rate limits and login lockouts, shared by all replicas through Redis.

`RateLimiter` uses GCRA (the generic cell rate algorithm) in one Lua script:
  * atomic: the read-decide-write is one script, so replicas never race;
  * one key per subject holding one number (the "theoretical arrival time"), versus
    a sliding-window log's one entry per request (60,000 members at our limit);
  * exact and smooth: `limit` requests are allowed at once and then one every
    `60/limit` s, with no fixed-window burst of 2·limit at a window boundary;
  * it yields `remaining` and `reset` directly for the `RateLimit-*` headers.
Time is Redis' `TIME`, so replicas with skewed clocks still agree. A replica
decides most requests of a busy subject on its own and charges them to Redis in
batches (`RateLimiter`'s local budget), within a bounded overshoot.

`LoginThrottle` counts failed logins per account and per client IP; past a free
allowance each failure locks for `base·2^k` s, capped at `max_s` (15 min), and
the counters are forgotten after `window_s` without failures: a lockout always
ends, so an attacker cannot lock a victim out for good, only slow them down.

Both fail open: if Redis is unreachable the request is served, a warning is logged
and `taskhive_rate_limit_redis_errors_total` counts it. A limiter outage must never
become an API outage (or a 500).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_ERRORS = Counter(
    "taskhive_rate_limit_redis_errors_total",
    "Rate-limit or login-throttle checks that failed open because Redis was unreachable",
)

# KEYS[1] the subject's TAT (ms); ARGV: interval ms (float), limit, and optionally
# `served`: requests this replica already admitted on its own (see `RateLimiter`),
# charged whatever the outcome, before the request at hand is decided.
# Returns {allowed, remaining, retry_after_ms, reset_ms}.
_GCRA = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local served = tonumber(ARGV[3] or 0)
local window = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
tat = tat + served * interval
local new_tat = tat + interval
if new_tat - now > window then
  if served > 0 then
    redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
  end
  return {0, 0, math.ceil(new_tat - window - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((window - (new_tat - now)) / interval), 0, math.ceil(new_tat - now)}
"""

# KEYS: subjects' TATs; ARGV: interval ms, then per key the requests to charge.
# Returns per key its TAT minus now (ms): what the replica mirrors.
_CHARGE = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key))
  if not tat or tat < now then tat = now end
  tat = tat + tonumber(ARGV[i + 1]) * interval
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
  out[i] = math.ceil(tat - now)
end
return out
"""

# KEYS: account lock, ip lock. Returns the longer remaining lock in ms (0: none).
_LOCKED = """
local a = redis.call('PTTL', KEYS[1])
local b = redis.call('PTTL', KEYS[2])
return math.max(a, b, 0)
"""

# KEYS: account failures, account lock, ip failures, ip lock.
# ARGV: account free failures, ip free failures, base ms, max ms, window ms.
# Returns the lock now in force in ms (0: none).
_FAILED = """
local function fail(count_key, lock_key, free)
  local n = redis.call('INCR', count_key)
  redis.call('PEXPIRE', count_key, ARGV[5])
  local over = n - free
  if over <= 0 then return 0 end
  local ms = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ (over - 1), tonumber(ARGV[4])))
  redis.call('SET', lock_key, n, 'PX', ms)
  return ms
end
local a = fail(KEYS[1], KEYS[2], tonumber(ARGV[1]))
local b = 0
if KEYS[3] ~= KEYS[1] then b = fail(KEYS[3], KEYS[4], tonumber(ARGV[2])) end
return math.max(a, b)
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one rate-limit check (`reset_s`: until the quota is full again)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int
    reset_s: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_s).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after_s).encode()))
        return out


def _seconds(ms: int | float) -> int:
    return max(0, math.ceil(ms / 1000))


class _Mirror:
    """This replica's view of one subject's GCRA state.

    `tat` is the theoretical arrival time (seconds, `time.monotonic()` scale):
    Redis' TAT as last returned, plus the requests admitted here since.
    `pending` of those have not been charged in Redis yet."""

    __slots__ = ("pending", "tat")

    def __init__(self, tat: float) -> None:
        self.tat = tat
        self.pending = 0


def default_batch(limit: int) -> int:
    """The local budget for a limit: 1 % of it, at least 10 requests."""
    return max(10, limit // 100)


class RateLimiter:
    """`limit` requests per `period_s` per subject, GCRA in Redis (see module doc).

    **Local budget.** A script call per request was a few percent of a replica's
    CPU, so a replica decides most requests itself on a mirror of the subject's
    state (`_Mirror`) and charges them to Redis later, all subjects in one call,
    `flush_s` after the first uncharged one. It admits on its own only while:
      * it has heard from Redis about the subject before (a first request asks);
      * fewer than `batch - 1` of the subject's requests are uncharged here;
      * the mirror leaves at least `batch` requests after this one.
    Everything else (a first request, a full batch, a subject near or over its
    limit) asks Redis at once, charging the uncharged requests with it, so every
    refusal and every decision near the limit is Redis' own, headers included.

    Overshoot: each replica can admit at most `batch - 1` requests Redis has not
    counted yet, on a view at most as old as its last answer, so a subject gets
    at most `(replicas - 1) * (batch - 1)` requests beyond its limit, for at most
    `flush_s` plus a round trip; the excess is charged all the same, so the
    subject is then refused for correspondingly longer and the rate over a
    period stays the limit. `batch=1` asks Redis for every request.

    The batch defaults to 1 % of the limit, at least 10 (`default_batch`): the
    overshoot is then at most 1 % of the limit per replica beyond the first, and
    a busy subject costs one Redis call per batch. A fixed batch of 10 made a
    subject at thousands of requests a second (an integration's API token, a
    load test) cost a script call every tenth request, 5 % of the replica's CPU.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        limit: int,
        period_s: float = 60.0,
        prefix: str = "rl",
        batch: int | None = None,
        flush_s: float = 0.1,
        capacity: int = 100_000,
    ) -> None:
        self.redis = redis
        self._script = redis.register_script(_GCRA)
        self._charge = redis.register_script(_CHARGE)
        self.limit = limit
        self._interval_ms = period_s * 1000 / limit
        self._interval_s = period_s / limit
        self._window_s = period_s
        self._prefix = prefix
        self._batch = batch if batch is not None else default_batch(limit)
        self._flush_s = flush_s
        self._capacity = capacity
        self._mirrors: OrderedDict[str, _Mirror] = OrderedDict()
        self._uncharged: set[str] = set()  # subjects whose mirror may have pending > 0
        self._flusher: asyncio.Task[None] | None = None

    async def hit(self, subject: str) -> Decision:
        """Count one request of `subject`; fails open (allowed) if Redis errs."""
        local = self._admit_locally(subject)
        if local is not None:
            return local
        mirror = self._mirrors.get(subject)
        served = 0
        if mirror is not None:
            served, mirror.pending = mirror.pending, 0
        try:
            allowed, remaining, retry_ms, reset_ms = await self._script(
                keys=[self._key(subject)], args=[repr(self._interval_ms), self.limit, served]
            )
        except (RedisError, OSError) as exc:
            self._mirrors.pop(subject, None)  # ask again next time: fail open each time
            REDIS_ERRORS.inc()
            log.warning("rate limit check failed open (Redis unreachable): %s", exc)
            return Decision(True, self.limit, self.limit, 0, 0)
        self._mirror(subject, int(reset_ms))
        return Decision(
            allowed=bool(allowed),
            limit=self.limit,
            remaining=int(remaining),
            retry_after_s=max(1, _seconds(retry_ms)) if not allowed else 0,
            reset_s=_seconds(reset_ms),
        )

    def _admit_locally(self, subject: str) -> Decision | None:
        """An allowed decision made on the mirror, or None: ask Redis."""
        mirror = self._mirrors.get(subject)
        if mirror is None or mirror.pending + 1 >= self._batch:
            return None
        now = time.monotonic()
        new_tat = max(mirror.tat, now) + self._interval_s
        remaining = math.floor((self._window_s - (new_tat - now)) / self._interval_s + 1e-9)
        if remaining < self._batch:
            return None
        mirror.tat = new_tat
        mirror.pending += 1
        self._uncharged.add(subject)
        self._mirrors.move_to_end(subject)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
        return Decision(True, self.limit, remaining, 0, _seconds((new_tat - now) * 1000))

    def _mirror(self, subject: str, tat_in_ms: int) -> None:
        """Record Redis' answer: the TAT it holds, `tat_in_ms` from now, plus the
        requests admitted here while the answer was on its way."""
        mirror = self._mirrors.get(subject)
        if mirror is None:
            mirror = self._mirrors[subject] = _Mirror(0.0)
            if len(self._mirrors) > self._capacity:
                self._mirrors.popitem(last=False)  # its uncharged requests, if any, go free
        self._mirrors.move_to_end(subject)
        mirror.tat = time.monotonic() + tat_in_ms / 1000 + mirror.pending * self._interval_s

    async def _flush_later(self) -> None:
        # Again while requests were admitted here during the last flush.
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()
            if not self._uncharged:
                return

    async def flush(self) -> None:
        """Charge every request admitted here and not yet counted in Redis (one
        call for all subjects), and refresh their mirrors from the answer."""
        subjects, self._uncharged = self._uncharged, set()
        charges = {
            s: m.pending for s in subjects if (m := self._mirrors.get(s)) is not None and m.pending
        }
        if not charges:
            return
        for subject in charges:
            self._mirrors[subject].pending = 0
        try:
            tats = await self._charge(
                keys=[self._key(s) for s in charges],
                args=[repr(self._interval_ms), *charges.values()],
            )
        except (RedisError, OSError) as exc:
            for subject in charges:  # their next requests ask Redis, failing open
                self._mirrors.pop(subject, None)
            REDIS_ERRORS.inc()
            log.warning("rate limit charge failed (Redis unreachable): %s", exc)
            return
        for subject, tat_in_ms in zip(charges, tats, strict=True):
            if subject in self._mirrors:
                self._mirror(subject, int(tat_in_ms))

    async def close(self) -> None:
        """Charge what is uncharged and stop the pending flush (replica shutdown)."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()

    def _key(self, subject: str) -> str:
        return f"{self._prefix}:{subject}"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    account_free_failures: int = 5
    ip_free_failures: int = 50
    lock_base_s: float = 1.0
    lock_max_s: float = 900.0
    window_s: float = 900.0


class LoginThrottle:
    """Failed-login counters and exponential lockouts per account and per IP.

    `locked_for` before checking a password (a locked login is refused without
    spending argon2 time), `failed` after a wrong one, `succeeded` after a right
    one (clears the account's counter, not the IP's: one valid account must not
    reset an attacker's IP). Emails are hashed into keys: no addresses in Redis.
    """

    def __init__(self, redis: aioredis.Redis, policy: LoginPolicy, prefix: str = "login") -> None:
        self._locked = redis.register_script(_LOCKED)
        self._failed = redis.register_script(_FAILED)
        self._redis = redis
        self.policy = policy
        self._prefix = prefix

    def _keys(self, email: str, ip: str | None) -> list[str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        keys = [f"{self._prefix}:fail:acct:{account}", f"{self._prefix}:lock:acct:{account}"]
        if ip is None:  # no usable client IP: count the account only
            return keys + keys
        return [*keys, f"{self._prefix}:fail:ip:{ip}", f"{self._prefix}:lock:ip:{ip}"]

    async def locked_for(self, email: str, ip: str | None) -> int:
        """Seconds until a login for this account from this IP may be tried (0: now)."""
        keys = self._keys(email, ip)
        try:
            ms = await self._locked(keys=[keys[1], keys[3]])
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return 0
        return _seconds(int(ms))

    async def failed(self, email: str, ip: str | None) -> int:
        """Record a failed login; seconds of lockout it caused (0: none yet)."""
        p = self.policy
        try:
            ms = await self._failed(
                keys=self._keys(email, ip),
                args=[
                    p.account_free_failures,
                    p.ip_free_failures,
                    int(p.lock_base_s * 1000),
                    int(p.lock_max_s * 1000),
                    int(p.window_s * 1000),
                ],
            )
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return 0
        return _seconds(int(ms))

    async def succeeded(self, email: str, ip: str | None) -> None:
        keys = self._keys(email, ip)
        try:
            await self._redis.delete(keys[0], keys[1])
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)

    @staticmethod
    def _redis_failed(exc: BaseException) -> None:
        REDIS_ERRORS.inc()
        log.warning("login throttle failed open (Redis unreachable): %s", exc)
