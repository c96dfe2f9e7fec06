"""Request rate limits and login lockouts, shared by all replicas through Redis.

`RateLimiter` uses GCRA (the generic cell rate algorithm) in one Lua script:
  * atomic: the read-decide-write is one script, so replicas never race;
  * one key per subject holding one number (the "theoretical arrival time"), versus
    a sliding-window log's one entry per request (60,000 members at our limit);
  * exact and smooth: `limit` requests are allowed at once and then one every
    `60/limit` s, with no fixed-window burst of 2·limit at a window boundary;
  * it yields `remaining` and `reset` directly for the `RateLimit-*` headers.
Time is Redis' `TIME`, so replicas with skewed clocks still agree.

`LoginThrottle` counts failed logins per account and per client IP; past a free
allowance each failure locks for `base·2^k` s, capped at `max_s` (15 min), and
the counters are forgotten after `window_s` without failures: a lockout always
ends, so an attacker cannot lock a victim out for good, only slow them down.

Both fail open: if Redis is unreachable the request is served, a warning is logged
and `taskhive_rate_limit_redis_errors_total` counts it. A limiter outage must never
become an API outage (or a 500).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_ERRORS = Counter(
    "taskhive_rate_limit_redis_errors_total",
    "Rate-limit or login-throttle checks that failed open because Redis was unreachable",
)

# KEYS[1] the subject's TAT (ms); ARGV: interval ms (float), limit.
# Returns {allowed, remaining, retry_after_ms, reset_ms}.
_GCRA = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > window then
  return {0, 0, math.ceil(new_tat - window - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((window - (new_tat - now)) / interval), 0, math.ceil(new_tat - now)}
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


class RateLimiter:
    """`limit` requests per `period_s` per subject, GCRA in Redis (see module doc)."""

    def __init__(
        self, redis: aioredis.Redis, *, limit: int, period_s: float = 60.0, prefix: str = "rl"
    ) -> None:
        self.redis = redis
        self._script = redis.register_script(_GCRA)
        self.limit = limit
        self._interval_ms = period_s * 1000 / limit
        self._prefix = prefix

    async def hit(self, subject: str) -> Decision:
        """Count one request of `subject`; fails open (allowed) if Redis errs."""
        try:
            allowed, remaining, retry_ms, reset_ms = await self._script(
                keys=[f"{self._prefix}:{subject}"], args=[repr(self._interval_ms), self.limit]
            )
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.inc()
            log.warning("rate limit check failed open (Redis unreachable): %s", exc)
            return Decision(True, self.limit, self.limit, 0, 0)
        return Decision(
            allowed=bool(allowed),
            limit=self.limit,
            remaining=int(remaining),
            retry_after_s=max(1, _seconds(retry_ms)) if not allowed else 0,
            reset_s=_seconds(reset_ms),
        )


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
