"""A user's notification preferences and the signed unsubscribe token.

Per notification kind a user chooses one channel:

- `email`: in the inbox and by email (batched into digests),
- `in_app`: in the inbox only,
- `off`: not at all.

`email_enabled` is a master switch for email, which the unsubscribe link turns
off without a login; a kind set to `email` then behaves as `in_app`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
from domain.notifications import Kind


class Channel(StrEnum):
    EMAIL = "email"
    IN_APP = "in_app"
    OFF = "off"


#: What a user gets before choosing: email for what asks them to act, the inbox
#: for the rest.
DEFAULT_CHANNELS: Mapping[Kind, Channel] = {
    Kind.ASSIGNED: Channel.EMAIL,
    Kind.MENTIONED: Channel.EMAIL,
    Kind.COMMENTED: Channel.EMAIL,
    Kind.UPDATED: Channel.IN_APP,
    Kind.DELETED: Channel.IN_APP,
}


@dataclass(frozen=True, slots=True)
class Preferences:
    """Only the kinds a user changed are kept in `channels`; the rest use the default."""

    email_enabled: bool = True
    channels: Mapping[Kind, Channel] = field(default_factory=dict)

    def channel(self, kind: Kind) -> Channel:
        """The effective channel of `kind`, with the email master switch applied."""
        chosen = self.channels.get(kind, DEFAULT_CHANNELS[kind])
        if chosen is Channel.EMAIL and not self.email_enabled:
            return Channel.IN_APP
        return chosen

    def as_json(self) -> dict[str, Any]:
        return {
            "email_enabled": self.email_enabled,
            "channels": {k.value: self.channels.get(k, DEFAULT_CHANNELS[k]).value for k in Kind},
        }


def preferences_from_stored(email_enabled: bool, channels: Mapping[str, Any] | None) -> Preferences:
    """Preferences from their stored form; unknown kinds or channels (from an older or
    newer version) are ignored rather than failing delivery."""
    parsed: dict[Kind, Channel] = {}
    for kind, channel in (channels or {}).items():
        try:
            parsed[Kind(kind)] = Channel(channel)
        except ValueError:
            continue
    return Preferences(email_enabled=email_enabled, channels=parsed)


def changed_preferences(
    current: Preferences, *, email_enabled: bool | None, channels: Mapping[str, str]
) -> Preferences:
    """Apply a client's change; raises `InvalidInput` naming an unknown kind or channel."""
    merged = dict(current.channels)
    for kind, channel in channels.items():
        try:
            parsed_kind = Kind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in Kind)
            raise InvalidInput.field(
                "channels", f"unknown kind {kind!r}; one of: {allowed}"
            ) from None
        try:
            merged[parsed_kind] = Channel(channel)
        except ValueError:
            allowed = ", ".join(c.value for c in Channel)
            raise InvalidInput.field("channels", f"{kind}: must be one of: {allowed}") from None
    return Preferences(
        email_enabled=current.email_enabled if email_enabled is None else email_enabled,
        channels=merged,
    )


# -- unsubscribe tokens ------------------------------------------------------------

_PURPOSE = b"taskhive/unsubscribe/v1"


def _key(secret: str) -> bytes:
    # Derived, so a token can never double as any other signature made with the secret.
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(user_id: UUID, *, secret: str) -> str:
    """A token that turns email off for `user_id`. It never expires: an old email's
    link must keep working."""
    mac = hmac.new(_key(secret), user_id.bytes, hashlib.sha256).digest()
    return f"{_b64(user_id.bytes)}.{_b64(mac)}"


def verify_unsubscribe_token(token: str, *, secret: str) -> UUID:
    """The user a token was made for; raises `InvalidInput` for any other string."""
    try:
        user_part, mac_part = token.split(".", 1)
        user_id = UUID(bytes=_unb64(user_part))
        mac = _unb64(mac_part)
    except ValueError:
        raise InvalidInput("the unsubscribe link is not valid") from None
    expected = hmac.new(_key(secret), user_id.bytes, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise InvalidInput("the unsubscribe link is not valid")
    return user_id
