"""Commands a project grain accepts. Plain, picklable data: they cross Ray calls.

Each command names its actor (the user on whose behalf it runs). The grain applies
commands one at a time in mailbox order and acknowledges each only after the
transaction holding it committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's `Idempotency-Key`, scoped by organisation and user.

    `request_hash` fingerprints the request body: the same key with another body
    is a client error, not a replay.
    """

    org_id: UUID
    user_id: UUID
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class CreateTask:
    actor_id: UUID
    fields: dict[str, Any]
    idempotency: IdempotencyKey | None = None


@dataclass(frozen=True, slots=True)
class UpdateTask:
    actor_id: UUID
    task_id: UUID
    changes: dict[str, Any]
    if_match: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteTask:
    actor_id: UUID
    task_id: UUID
    if_match: int | None = None


@dataclass(frozen=True, slots=True)
class UpdateProject:
    actor_id: UUID
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeleteProject:
    actor_id: UUID


Command = CreateTask | UpdateTask | DeleteTask | UpdateProject | DeleteProject


@dataclass(frozen=True, slots=True)
class Reply:
    """A grain's answer to one command: the HTTP status and the JSON body to send.

    `replayed` is true when an idempotency key matched an earlier request and the
    body is that first response.
    """

    status: int
    body: dict[str, Any] | None
    replayed: bool = False
