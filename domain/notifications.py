"""Who is notified of a change, and of what: the pure recipient rules.

A consumer of the event stream calls these with one committed event, the task as
it was just before the event (folded from earlier events by `fold_task`), the
task's explicit watchers, and the users its text @mentions. They return at most
one `Notice` per recipient — the most specific kind wins — and never one for the
actor, who knows what they did.

Mentions: users have no handle yet, so `@ann@example.com` (a full email) and
`@ann` (the part of an email before the `@`) both name a user, matched case-
insensitively among the members of the task's organisation. A local part shared
by two members names nobody: a mention must never reach the wrong person.

Implicit watchers: the reporter and the assignee (before and after the event)
watch a task; callers pass anyone else who watches it in `watchers`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from uuid import UUID

#: Event types as stored in the outbox. Comments do not exist yet: a comment event
#: is expected to carry `{"comment": {"id", "task_id", "author_id", "body"}}`.
TASK_CREATED = "task.created"
TASK_UPDATED = "task.updated"
TASK_DELETED = "task.deleted"
COMMENT_CREATED = "comment.created"
#: An edited comment carries `{"comment": {...}, "previous_body": str}`: users it
#: newly mentions are told, nobody else.
COMMENT_UPDATED = "comment.updated"

#: Event types that may notify someone; everything else is skipped by consumers.
NOTIFYING_EVENTS = frozenset(
    {TASK_CREATED, TASK_UPDATED, TASK_DELETED, COMMENT_CREATED, COMMENT_UPDATED}
)


class Kind(StrEnum):
    """What a notification tells its recipient. Declared from most to least specific."""

    ASSIGNED = "assigned"
    MENTIONED = "mentioned"
    COMMENTED = "commented"
    UPDATED = "updated"
    DELETED = "deleted"


_PRECEDENCE = {kind: rank for rank, kind in enumerate(Kind)}

# `@` not preceded by a word character or an email character (so the domain of a
# plain address `ann@example.com` is no mention), then a local part and an
# optional `@domain`.
_MENTION = re.compile(
    r"(?<![\w.+@-])@([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)"
)


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """The fields of a task the rules need, as of one version."""

    id: UUID
    key: str
    title: str
    description: str
    status: str
    assignee_id: UUID | None
    reporter_id: UUID | None


@dataclass(frozen=True, slots=True)
class Notice:
    """One recipient's notification of one event, before it is stored."""

    user_id: UUID
    kind: Kind


def _uuid(value: Any) -> UUID | None:
    return UUID(str(value)) if value else None


def snapshot_from_json(task: Mapping[str, Any]) -> TaskSnapshot:
    """A snapshot from a task's public JSON (the `task.created` payload)."""
    return TaskSnapshot(
        id=UUID(str(task["id"])),
        key=str(task.get("key", "")),
        title=str(task.get("title", "")),
        description=str(task.get("description") or ""),
        status=str(task.get("status", "")),
        assignee_id=_uuid(task.get("assignee_id")),
        reporter_id=_uuid(task.get("reporter_id")),
    )


def apply_event(
    before: TaskSnapshot | None, event_type: str, payload: Mapping[str, Any]
) -> TaskSnapshot | None:
    """The task after one event; None when the event deletes it or says too little.

    `task.updated` carries only the changed fields, so an update to a task whose
    creation was never seen cannot be reconstructed and yields None.
    """
    if event_type == TASK_CREATED:
        return snapshot_from_json(payload["task"])
    if event_type == TASK_DELETED or before is None:
        return None
    if event_type != TASK_UPDATED:
        return before
    changes: Mapping[str, Any] = payload.get("changes", {})
    fields: dict[str, Any] = {}
    for name in ("title", "description", "status"):
        if name in changes:
            fields[name] = str(changes[name] or "")
    if "assignee_id" in changes:
        fields["assignee_id"] = _uuid(changes["assignee_id"])
    return replace(before, **fields)


def fold_task(history: Iterable[tuple[str, Mapping[str, Any]]]) -> TaskSnapshot | None:
    """The task after a sequence of its `(event_type, payload)`s, oldest first."""
    state: TaskSnapshot | None = None
    for event_type, payload in history:
        state = apply_event(state, event_type, payload)
    return state


def mention_tokens(text: str) -> set[str]:
    """The lowercased names @mentioned in `text` (`ann` or `ann@example.com`)."""
    return {m.group(1).rstrip(".").lower() for m in _MENTION.finditer(text)}


def mention_directory(members: Iterable[tuple[UUID, str]]) -> dict[str, UUID]:
    """Map mention tokens to user ids from `(user_id, email)` of an organisation's members.

    Both the full email and its local part map to the user; a local part two
    members share maps to nobody.
    """
    directory: dict[str, UUID] = {}
    ambiguous: set[str] = set()
    for user_id, email in members:
        address = email.lower()
        directory[address] = user_id
        local = address.split("@", 1)[0]
        if local in directory and directory[local] != user_id:
            ambiguous.add(local)
        directory[local] = user_id
    for local in ambiguous:
        del directory[local]
    return directory


def mentioned_users(text: str, directory: Mapping[str, UUID]) -> set[UUID]:
    return {directory[t] for t in mention_tokens(text) if t in directory}


def new_mentions(before: str, after: str, directory: Mapping[str, UUID]) -> set[UUID]:
    """Users mentioned in `after` who were not already mentioned in `before`."""
    return mentioned_users(after, directory) - mentioned_users(before, directory)


def _implicit_watchers(*tasks: TaskSnapshot | None) -> set[UUID]:
    found: set[UUID] = set()
    for task in tasks:
        if task is not None:
            found.update(u for u in (task.reporter_id, task.assignee_id) if u is not None)
    return found


def notices_for(
    event_type: str,
    actor_id: UUID,
    payload: Mapping[str, Any],
    *,
    before: TaskSnapshot | None,
    watchers: Iterable[UUID] = (),
    mentioned: Iterable[UUID] = (),
) -> list[Notice]:
    """The notices one event causes, one per recipient, never for `actor_id`.

    - `task.created`: the assignee is `assigned`; users mentioned in the
      description are `mentioned`.
    - `task.updated`: a new assignee is `assigned`; users newly mentioned in the
      description are `mentioned`; every other watcher (explicit, reporter, the
      assignee before and after) is told it was `updated`.
    - `task.deleted`: the watchers of the task as it was are told it was `deleted`.
    - `comment.created`: users mentioned in the comment are `mentioned`; the
      watchers are told of the comment (`commented`).
    - `comment.updated`: users the edit newly mentions are `mentioned`.

    `mentioned` is who the event's new text mentions (see `new_mentions`).
    Returns the notices sorted by user id, so results are deterministic.
    """
    chosen: dict[UUID, Kind] = {}

    def give(users: Iterable[UUID | None], kind: Kind) -> None:
        for user in users:
            if user is None or user == actor_id:
                continue
            held = chosen.get(user)
            if held is None or _PRECEDENCE[kind] < _PRECEDENCE[held]:
                chosen[user] = kind

    explicit = set(watchers)
    if event_type == TASK_CREATED:
        after = apply_event(None, event_type, payload)
        give([after.assignee_id if after else None], Kind.ASSIGNED)
        give(mentioned, Kind.MENTIONED)
    elif event_type == TASK_UPDATED:
        changes: Mapping[str, Any] = payload.get("changes", {})
        after = apply_event(before, event_type, payload)
        if "assignee_id" in changes:
            give([_uuid(changes["assignee_id"])], Kind.ASSIGNED)
        give(mentioned, Kind.MENTIONED)
        give(explicit | _implicit_watchers(before, after), Kind.UPDATED)
    elif event_type == TASK_DELETED:
        give(explicit | _implicit_watchers(before), Kind.DELETED)
    elif event_type == COMMENT_CREATED:
        give(mentioned, Kind.MENTIONED)
        give(explicit | _implicit_watchers(before), Kind.COMMENTED)
    elif event_type == COMMENT_UPDATED:
        give(mentioned, Kind.MENTIONED)
    return [Notice(user, chosen[user]) for user in sorted(chosen, key=str)]


def event_text(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The text of an event that may @mention users, or None if it carries none."""
    if event_type == TASK_CREATED:
        return str(payload["task"].get("description") or "")
    if event_type == TASK_UPDATED and "description" in payload.get("changes", {}):
        return str(payload["changes"]["description"] or "")
    if event_type in (COMMENT_CREATED, COMMENT_UPDATED):
        return str(payload.get("comment", {}).get("body") or "")
    return None


def previous_text(event_type: str, payload: Mapping[str, Any], before: TaskSnapshot | None) -> str:
    """The text an event's new text replaced: mentions already in it were told before."""
    if event_type == TASK_UPDATED and before is not None:
        return before.description
    if event_type == COMMENT_UPDATED:
        return str(payload.get("previous_body") or "")
    return ""


def describe(
    notice: Notice,
    *,
    task: TaskSnapshot | None,
    actor_name: str,
    changes: Sequence[str] = (),
    status: str | None = None,
) -> tuple[str, str]:
    """`(title, summary)` of a notification, in plain text."""
    key = task.key if task else "a task"
    title = f"{task.key}: {task.title}" if task else "A task"
    match notice.kind:
        case Kind.ASSIGNED:
            summary = f"{actor_name} assigned {key} to you"
        case Kind.MENTIONED:
            summary = f"{actor_name} mentioned you in {key}"
        case Kind.COMMENTED:
            summary = f"{actor_name} commented on {key}"
        case Kind.DELETED:
            summary = f"{actor_name} deleted {key}"
        case Kind.UPDATED if status is not None:
            summary = f"{actor_name} moved {key} to {status}"
        case _:
            fields = ", ".join(c.replace("_id", "") for c in changes) or "details"
            summary = f"{actor_name} changed the {fields} of {key}"
    return title, summary
