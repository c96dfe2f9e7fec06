"""Response helpers: orjson bodies (or bodies encoded by a grain), ETags, and parsing
of `If-Match`."""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from fastapi.responses import Response

from domain.errors import InvalidInput

_VERSION = re.compile(r"[0-9]{1,18}")


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def encoded_json_response(
    body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A body that is JSON already (a grain's encoded read): sent as it is."""
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def json_document(**members: bytes) -> bytes:
    """A JSON object from members that are encoded already, in the given order."""
    return b"{" + b",".join(orjson.dumps(k) + b":" + v for k, v in members.items()) + b"}"


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """`"3"`, `W/"3"` or `3` → 3; absent or `*` → None (no precondition)."""
    if value is None or value.strip() == "*":
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not _VERSION.fullmatch(raw):
        raise InvalidInput('If-Match must be a task version as given in its ETag, e.g. "3"')
    return int(raw)


def encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not one this API returned") from None
    if not isinstance(data, dict):
        raise InvalidInput("cursor is not one this API returned")
    return data
