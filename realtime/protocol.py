"""The websocket protocol: message schemas, close codes, and server messages.

Every client message is validated against its JSON Schema (`CLIENT_SCHEMAS`);
`docs/realtime.md` documents the same schemas. Server messages are built only by
the functions here, so their shapes live in one place.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from jsonschema import Draft202012Validator

_UUID = {"type": "string", "format": "uuid", "pattern": "^[0-9a-fA-F-]{36}$"}

CLIENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "auth": {
        "type": "object",
        "properties": {"type": {"const": "auth"}, "token": {"type": "string", "minLength": 1}},
        "required": ["type", "token"],
        "additionalProperties": False,
    },
    "subscribe": {
        "type": "object",
        "properties": {
            "type": {"const": "subscribe"},
            "project_id": _UUID,
            "since": {"type": "integer", "minimum": 0},
        },
        "required": ["type", "project_id"],
        "additionalProperties": False,
    },
    "unsubscribe": {
        "type": "object",
        "properties": {"type": {"const": "unsubscribe"}, "project_id": _UUID},
        "required": ["type", "project_id"],
        "additionalProperties": False,
    },
    "presence": {
        "type": "object",
        "properties": {
            "type": {"const": "presence"},
            "project_id": _UUID,
            "task_id": {"anyOf": [_UUID, {"type": "null"}]},
        },
        "required": ["type", "project_id"],
        "additionalProperties": False,
    },
    "ping": {
        "type": "object",
        "properties": {"type": {"const": "ping"}},
        "required": ["type"],
        "additionalProperties": False,
    },
}

_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in CLIENT_SCHEMAS.items()}


class CloseCode(IntEnum):
    """Close codes a session may end with (4000 to 4999 are the application's)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNAUTHENTICATED = 4401
    AUTH_TIMEOUT = 4408
    TOO_SLOW = 4429  # the client fell behind; reconnect and resubscribe with `since`


class ProtocolError(Exception):
    """A client message that is not valid JSON or matches no schema."""


def validate(message: Any) -> dict[str, Any]:
    """Return the message if it is a valid client message; raise ProtocolError."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a message must be a JSON object with a string 'type'")
    validator = _VALIDATORS.get(message["type"])
    if validator is None:
        raise ProtocolError(f"unknown message type {message['type']!r}")
    error = next(iter(validator.iter_errors(message)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "message"
        raise ProtocolError(f"{where}: {error.message}")
    return message


def event_message(event: dict[str, Any]) -> dict[str, Any]:
    """`{"type": "event", "project_id", "version", "event", "payload", ...}`."""
    return {"type": "event", **event}


def snapshot_required(project_id: str, reason: str) -> dict[str, Any]:
    return {"type": "snapshot_required", "project_id": project_id, "reason": reason}


def subscribed(project_id: str, version: int) -> dict[str, Any]:
    return {"type": "subscribed", "project_id": project_id, "version": version}


def error(
    detail: str, *, project_id: str | None = None, code: str = "bad_request"
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if project_id is not None:
        message["project_id"] = project_id
    return message
