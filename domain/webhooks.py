"""Outgoing webhooks: which events a hook takes, how a payload is signed, when a
failed delivery is tried again and when a hook is switched off.

Signature (`X-Taskhive-Signature: t=<unix seconds>,v1=<hex>`): `v1` is
HMAC-SHA256 of `"<t>.<raw body>"` keyed by the hook's secret. Receivers compute
the same over the bytes they received, compare in constant time, and refuse a
`t` too far from their clock (replays). `verify` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from domain.errors import InvalidInput
from domain.events import EventType

SIGNATURE_HEADER = "X-Taskhive-Signature"
#: The default tolerance of `verify` between the signature's time and the receiver's.
TOLERANCE_S = 300
#: The event a hook receives when asked to prove it works (`POST .../ping`).
PING = "ping"
#: Subscribable event types: every committed event plus the ping.
EVENT_TYPES: frozenset[str] = frozenset(e.value for e in EventType) | {PING}
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_events(events: Sequence[str]) -> list[str]:
    """The hook's event types, validated and de-duplicated; `*` means all."""
    if not events:
        raise InvalidInput.field("events", "name at least one event type, or '*'")
    if "*" in events:
        return ["*"]
    unknown = sorted(set(events) - EVENT_TYPES)
    if unknown:
        raise InvalidInput.field(
            "events", f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(EVENT_TYPES))}"
        )
    return sorted(set(events))


def wants(hook_events: Iterable[str], event_type: str) -> bool:
    hook_events = list(hook_events)
    return event_type == PING or "*" in hook_events or event_type in hook_events


def check_url(url: str, *, allow_private: bool) -> str:
    """An http(s) URL without credentials; literal loopback, private, link-local
    and reserved addresses are refused unless `allow_private` (a self-hosted
    install reaching its own network). Names are checked again at delivery,
    after resolution, by the sender."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput.field("url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidInput.field("url", "must not carry credentials; the signature authenticates")
    if not allow_private and is_private_host(parts.hostname):
        raise InvalidInput.field("url", "private, loopback and link-local addresses are refused")
    return url


def is_private_host(host: str) -> bool:
    """True for a literal address that is not globally routable, and for localhost."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance_s: int = TOLERANCE_S
) -> bool:
    """Whether `header` is a valid signature of `body` made within `tolerance_s`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff from `base` (doubling, capped at `cap`) for `give_up_after`
    since the delivery was created; a hook whose last `disable_after` attempts all
    failed is switched off."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=24)
    disable_after: int = 50

    def next_attempt(self, attempts: int, created_at: datetime, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed tries; None to give up."""
        delay = min(self.base * 2 ** max(attempts - 1, 0), self.cap)
        due = now + delay
        return None if due - created_at > self.give_up_after else due
