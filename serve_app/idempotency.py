"""`Idempotency-Key` handling on the replica side.

Every write sent to a grain carries a key: the client's when it gave one, else
one made here, so the replica's own retries after a lost reply are safe too.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from domain.commands import IdempotencyKey
from domain.errors import InvalidInput
from serve_app.security import Principal

MAX_KEY_LENGTH = 255


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def key_for(
    principal: Principal, header: str | None, *, method: str, path: str, body: Any
) -> IdempotencyKey:
    if header is not None:
        if not 1 <= len(header) <= MAX_KEY_LENGTH or not header.isprintable():
            raise InvalidInput("Idempotency-Key must be 1 to 255 printable characters")
        key, fresh = header, False
    else:
        key, fresh = f"~{uuid.uuid4().hex}", True  # '~' marks keys the server made
    return IdempotencyKey(
        org_id=principal.org_id,
        user_id=principal.user_id,
        key=key,
        request_hash=request_hash(method, path, body),
        first_attempt=fresh,
    )
