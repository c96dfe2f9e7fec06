"""Commands a project grain accepts. Plain, picklable data: they cross Ray calls.

Each command names its actor (the user on whose behalf it runs). The grain applies
commands one at a time in mailbox order and acknowledges each only after the
transaction holding it committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.attachments import Attachment
from domain.imports import ImportItem


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's `Idempotency-Key`, scoped by organisation and user.

    `request_hash` fingerprints the request body: the same key with another body
    is a client error, not a replay. `first_attempt` is true only for a key the
    server has just made and never sent before: nothing can be stored under it
    yet, so the grain skips looking it up. Every retry clears it.
    """

    org_id: UUID
    user_id: UUID
    key: str
    request_hash: str
    first_attempt: bool = False


#: The role commands run with when the caller's role was not looked up. Status
#: changes are checked against the workflow's transition roles with the real one.
DEFAULT_ROLE = "member"

#: The actor of changes the grain makes by itself (rank rebalancing).
SYSTEM_ACTOR = UUID(int=0)


@dataclass(frozen=True, slots=True)
class CreateTask:
    actor_id: UUID
    fields: dict[str, Any]
    idempotency: IdempotencyKey | None = None
    role: str = DEFAULT_ROLE


@dataclass(frozen=True, slots=True)
class UpdateTask:
    actor_id: UUID
    task_id: UUID
    changes: dict[str, Any]
    if_match: int | None = None
    role: str = DEFAULT_ROLE
    #: Set by automation (`{"rule_id", "depth"}`); the event carries it as `caused_by`.
    cause: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MoveTask:
    """Change a card's status and/or position: before `before_id`, after `after_id`
    (both must be in the target column), or at the column's end when neither."""

    actor_id: UUID
    task_id: UUID
    status: str | None = None
    before_id: UUID | None = None
    after_id: UUID | None = None
    role: str = DEFAULT_ROLE


@dataclass(frozen=True, slots=True)
class BulkUpdate:
    """The same changes to many tasks of one project, committed together; each task
    succeeds or fails on its own (the reply lists per-task results)."""

    actor_id: UUID
    task_ids: tuple[UUID, ...]
    changes: dict[str, Any]
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()
    role: str = DEFAULT_ROLE


@dataclass(frozen=True, slots=True)
class UpdateWorkflow:
    """Replace the workflow; `moves` maps each removed status to its tasks' new one."""

    actor_id: UUID
    workflow: dict[str, Any]
    moves: dict[str, str] = field(default_factory=dict)
    if_version: int | None = None


@dataclass(frozen=True, slots=True)
class SetLabels:
    """Replace the project's label set; a removed label is taken off its tasks."""

    actor_id: UUID
    labels: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RebalanceRanks:
    actor_id: UUID = SYSTEM_ACTOR


@dataclass(frozen=True, slots=True)
class CreateSprint:
    actor_id: UUID
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpdateSprint:
    actor_id: UUID
    sprint_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StartSprint:
    actor_id: UUID
    sprint_id: UUID


@dataclass(frozen=True, slots=True)
class CompleteSprint:
    """Complete an active sprint; unfinished tasks go to `move_to`: a planned sprint's
    id, `"next"` (the next planned sprint) or `"backlog"` (no sprint)."""

    actor_id: UUID
    sprint_id: UUID
    move_to: str = "backlog"


@dataclass(frozen=True, slots=True)
class SprintScope:
    """Add tasks to and remove tasks from a sprint."""

    actor_id: UUID
    sprint_id: UUID
    add: tuple[UUID, ...] = ()
    remove: tuple[UUID, ...] = ()


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


@dataclass(frozen=True, slots=True)
class AddComment:
    actor_id: UUID
    task_id: UUID
    body: str
    cause: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EditComment:
    """Replace a comment's body (author only); the previous body goes to its history."""

    actor_id: UUID
    comment_id: UUID
    body: str


@dataclass(frozen=True, slots=True)
class DeleteComment:
    """Delete a comment: its author, or with `admin` (an org owner/admin) anyone's."""

    actor_id: UUID
    comment_id: UUID
    admin: bool = False


@dataclass(frozen=True, slots=True)
class ReactToComment:
    """Add (`add`) or take back the actor's `emoji` reaction; one per user and emoji."""

    actor_id: UUID
    comment_id: UUID
    emoji: str
    add: bool = True


@dataclass(frozen=True, slots=True)
class AddAttachment:
    """Record an attachment whose blob is already stored at `attachment.blob_key`."""

    actor_id: UUID
    attachment: Attachment


@dataclass(frozen=True, slots=True)
class RemoveAttachment:
    """Delete an attachment (uploader, or with `admin` anyone's); the collector removes
    its blobs afterwards."""

    actor_id: UUID
    attachment_id: UUID
    admin: bool = False


@dataclass(frozen=True, slots=True)
class SetAttachmentThumbnail:
    """Record the thumbnail made for an image attachment (stored at `thumbnail_key`)."""

    attachment_id: UUID
    thumbnail_key: str
    actor_id: UUID = SYSTEM_ACTOR


@dataclass(frozen=True, slots=True)
class ImportTasks:
    """Create tasks (with their comments) from an import, all or none of them.

    Items come planned (`domain.imports.plan`): ids decided, parents first. Their
    labels and sprints are created when missing.
    """

    actor_id: UUID
    import_id: UUID
    source: str
    items: tuple[ImportItem, ...]
    idempotency: IdempotencyKey | None = None
    role: str = DEFAULT_ROLE


@dataclass(frozen=True, slots=True)
class CreateField:
    actor_id: UUID
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpdateField:
    actor_id: UUID
    field_id: str
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeleteField:
    """Remove a field; its values leave every task in the same commit."""

    actor_id: UUID
    field_id: str


Command = (
    CreateTask
    | UpdateTask
    | DeleteTask
    | UpdateProject
    | DeleteProject
    | MoveTask
    | BulkUpdate
    | UpdateWorkflow
    | SetLabels
    | RebalanceRanks
    | CreateSprint
    | UpdateSprint
    | StartSprint
    | CompleteSprint
    | SprintScope
    | AddComment
    | EditComment
    | DeleteComment
    | ReactToComment
    | AddAttachment
    | RemoveAttachment
    | SetAttachmentThumbnail
    | ImportTasks
    | CreateField
    | UpdateField
    | DeleteField
)


@dataclass(frozen=True, slots=True)
class Reply:
    """A grain's answer to one command: the HTTP status and the JSON body to send.

    `replayed` is true when an idempotency key matched an earlier request and the
    body is that first response.
    """

    status: int
    body: dict[str, Any] | None
    replayed: bool = False
