"""Events: the diff of one committed change, numbered by the project's version.

Events are stored in the transactional outbox in the same transaction as the
change and published only after commit. Consumers deduplicate by
`(project_id, version)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class EventType(StrEnum):
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    TASK_DELETED = "task.deleted"
    PROJECT_UPDATED = "project.updated"
    PROJECT_DELETED = "project.deleted"
    WORKFLOW_UPDATED = "workflow.updated"
    LABELS_UPDATED = "labels.updated"
    #: The project's custom field definitions changed; payload `{"fields": [...]}`.
    FIELDS_UPDATED = "fields.updated"
    #: Ranks re-spaced in the background; the payload maps task id → new rank.
    TASKS_RERANKED = "tasks.reranked"
    SPRINT_CREATED = "sprint.created"
    SPRINT_UPDATED = "sprint.updated"
    SPRINT_STARTED = "sprint.started"
    SPRINT_COMPLETED = "sprint.completed"
    #: A task joined or left an active sprint, or its estimate changed while in one.
    SPRINT_SCOPE_CHANGED = "sprint.scope_changed"
    #: Payload `{"comment": {...}}` with the body as written (notifications read it).
    COMMENT_CREATED = "comment.created"
    #: Payload `{"comment": {...}, "previous_body": str}`.
    COMMENT_UPDATED = "comment.updated"
    COMMENT_DELETED = "comment.deleted"
    COMMENT_REACTION_ADDED = "comment.reaction_added"
    COMMENT_REACTION_REMOVED = "comment.reaction_removed"
    #: Payload `{"attachment": {...}}`: the blob is stored before this is committed.
    ATTACHMENT_ADDED = "attachment.added"
    #: A thumbnail was made; payload `{"attachment": {...}}`.
    ATTACHMENT_UPDATED = "attachment.updated"
    ATTACHMENT_REMOVED = "attachment.removed"


@dataclass(frozen=True, slots=True)
class Event:
    project_id: UUID
    version: int
    type: EventType
    actor_id: UUID
    task_id: UUID | None
    payload: dict[str, Any]
    created_at: datetime
    #: The API request that caused it (stored and audited, not sent to clients).
    request_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "project_id": str(self.project_id),
            "version": self.version,
            "event": self.type.value,
            "actor_id": str(self.actor_id),
            "task_id": str(self.task_id) if self.task_id else None,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }
