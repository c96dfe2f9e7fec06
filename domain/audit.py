"""Which committed project changes the audit log records, and how.

The project's grain commits settings, workflow, label and custom-field changes
and deletions; the audit rows for them are derived from the batch's events and
written in the same transaction (`storage.project_store`), so the log and the
change cannot disagree. Rows made here carry the request id the event carries,
but no client IP: the grain does not see the HTTP request (the API's own audit
rows do).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from domain.events import Event, EventType

#: Event type → (audit action, target type).
AUDITED: dict[EventType, tuple[str, str]] = {
    EventType.PROJECT_UPDATED: ("project.updated", "project"),
    EventType.PROJECT_DELETED: ("project.deleted", "project"),
    EventType.WORKFLOW_UPDATED: ("project.workflow_updated", "project"),
    EventType.LABELS_UPDATED: ("project.labels_updated", "project"),
    EventType.FIELDS_UPDATED: ("project.fields_updated", "project"),
    EventType.TASK_DELETED: ("task.deleted", "task"),
}


def _details(event: Event) -> dict[str, Any]:
    p = event.payload
    match event.type:
        case EventType.PROJECT_UPDATED:
            project = p.get("project", {})
            return {k: project.get(k) for k in ("name", "settings", "time_zone") if k in project}
        case EventType.WORKFLOW_UPDATED:
            workflow = p.get("workflow", {})
            return {"workflow_version": workflow.get("version"), "moves": p.get("moves", {})}
        case EventType.LABELS_UPDATED:
            return {"labels": [x.get("name") for x in p.get("labels", [])]}
        case EventType.FIELDS_UPDATED:
            return {"fields": [f.get("name") for f in p.get("fields", [])]}
        case EventType.TASK_DELETED:
            return {"key": p.get("key"), "project_id": str(event.project_id)}
    return {}


def audit_rows(org_id: UUID, events: Iterable[Event]) -> list[dict[str, Any]]:
    """Audit log rows for the audited events of one batch."""
    rows = []
    for event in events:
        audited = AUDITED.get(event.type)
        if audited is None:
            continue
        action, target_type = audited
        target = event.task_id if target_type == "task" else event.project_id
        rows.append(
            {
                "org_id": org_id,
                "actor_id": event.actor_id,
                "action": action,
                "target_type": target_type,
                "target_id": str(target),
                "details": {**_details(event), "version": event.version},  # the event's
                "created_at": event.created_at,
                "request_id": event.request_id,
            }
        )
    return rows
