"""Comments, reactions and attachments, decided on a `_Stage` like every other command.

The grain reads the rows a batch names before deciding it (`referenced_rows` says
which); the stage keeps them in `stage.refs` and updates them as it goes, so a
later command of the same batch sees an earlier one's change. Nothing here does
I/O: the rows are written by the batch's commit, the events published after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

from actors.stage import _Stage
from domain import comments as rules
from domain.commands import (
    AddAttachment,
    AddComment,
    Command,
    DeleteComment,
    EditComment,
    ReactToComment,
    RemoveAttachment,
    Reply,
    SetAttachmentThumbnail,
)
from domain.comments import Comment
from domain.errors import Forbidden, NotFound
from domain.events import EventType


def referenced_rows(commands: Iterable[Command]) -> tuple[set[UUID], set[UUID]]:
    """The comment ids and attachment ids that the commands need read first."""
    comments: set[UUID] = set()
    attachments: set[UUID] = set()
    for command in commands:
        match command:
            case EditComment() | DeleteComment() | ReactToComment():
                comments.add(command.comment_id)
            case RemoveAttachment() | SetAttachmentThumbnail():
                attachments.add(command.attachment_id)
    return comments, attachments


def decide(stage: _Stage, command: Command) -> Reply | None:
    """The reply to `command` if it is one of this module's, else None."""
    match command:
        case AddComment(actor_id=actor, task_id=task_id, body=body, cause=cause):
            return _add(stage, actor, task_id, body, cause)
        case EditComment(actor_id=actor, comment_id=comment_id, body=body):
            return _edit(stage, actor, comment_id, body)
        case DeleteComment(actor_id=actor, comment_id=comment_id, admin=admin):
            return _delete(stage, actor, comment_id, admin)
        case ReactToComment():
            return _react(stage, command)
        case AddAttachment(actor_id=actor, attachment=attachment):
            stage.task(attachment.task_id)
            stage.refs.attachments[attachment.id] = attachment
            stage.batch.extras.new_attachments.append(attachment)
            added = attachment.as_json()
            payload = {"attachment": added}
            stage.event(EventType.ATTACHMENT_ADDED, actor, attachment.task_id, payload)
            return Reply(201, added)
        case RemoveAttachment():
            return _remove_attachment(stage, command)
        case SetAttachmentThumbnail(attachment_id=attachment_id, thumbnail_key=key, actor_id=actor):
            found = stage.refs.attachments.get(attachment_id)
            if found is None:
                raise NotFound("attachment not found")
            updated = dataclasses.replace(found, thumbnail_key=key)
            stage.refs.attachments[attachment_id] = updated
            stage.batch.extras.thumbnails[attachment_id] = key
            changed = updated.as_json()
            payload = {"attachment": changed}
            stage.event(EventType.ATTACHMENT_UPDATED, actor, found.task_id, payload)
            return Reply(200, changed)
    return None


def _comment(stage: _Stage, comment_id: UUID) -> Comment | None:
    """A live comment of a task that still exists, or None."""
    comment = stage.refs.comments.get(comment_id)
    if comment is None or comment.task_id not in stage.tasks:
        return None
    return comment


def _add(
    stage: _Stage, actor: UUID, task_id: UUID, body: str, cause: dict[str, Any] | None = None
) -> Reply:
    task = stage.task(task_id)
    comment = Comment(
        id=uuid4(),
        org_id=task.org_id,
        project_id=task.project_id,
        task_id=task.id,
        author_id=actor,
        body=rules.check_body(body),
        created_at=stage.now,
        updated_at=stage.now,
    )
    stage.refs.comments[comment.id] = comment
    stage.batch.extras.new_comments[comment.id] = comment
    json = comment.as_json()
    payload: dict[str, Any] = {"comment": json}
    if cause:
        payload["caused_by"] = cause
    stage.event(EventType.COMMENT_CREATED, actor, task.id, payload)
    return Reply(201, json)


def _edit(stage: _Stage, actor: UUID, comment_id: UUID, body: str) -> Reply:
    before = rules.check_author(_comment(stage, comment_id), actor)
    if body == before.body:
        return Reply(200, before.as_json())
    after = rules.edited(before, body, stage.now)
    stage.refs.comments[comment_id] = after
    extras = stage.batch.extras
    if comment_id in extras.new_comments:
        extras.new_comments[comment_id] = after
    else:
        extras.changed_comments[comment_id] = after
    extras.revisions.append((before, actor, stage.now))
    json = after.as_json()
    payload = {"comment": json, "previous_body": before.body}
    stage.event(EventType.COMMENT_UPDATED, actor, after.task_id, payload)
    return Reply(200, json)


def _delete(stage: _Stage, actor: UUID, comment_id: UUID, admin: bool) -> Reply:
    comment = rules.check_deleter(_comment(stage, comment_id), actor, admin=admin)
    del stage.refs.comments[comment_id]
    stage.batch.extras.deleted_comments[comment_id] = stage.now
    payload = {"comment_id": str(comment_id), "task_id": str(comment.task_id)}
    stage.event(EventType.COMMENT_DELETED, actor, comment.task_id, payload)
    return Reply(204, None)


def _react(stage: _Stage, command: ReactToComment) -> Reply:
    comment = _comment(stage, command.comment_id)
    if comment is None:
        raise NotFound("comment not found")
    emoji = rules.check_emoji(command.emoji)
    key = (comment.id, command.actor_id, emoji)
    present = key in stage.refs.reactions
    if command.add != present:  # otherwise already as asked: no event
        extras = stage.batch.extras
        if command.add:
            stage.refs.reactions.add(key)
            extras.reactions_added.append((key, comment.org_id))
            kind = EventType.COMMENT_REACTION_ADDED
        else:
            stage.refs.reactions.discard(key)
            extras.reactions_removed.append(key)
            kind = EventType.COMMENT_REACTION_REMOVED
        payload = {
            "comment_id": str(comment.id),
            "task_id": str(comment.task_id),
            "user_id": str(command.actor_id),
            "emoji": emoji,
        }
        stage.event(kind, command.actor_id, comment.task_id, payload)
    mine = sorted(
        e for c, u, e in stage.refs.reactions if c == comment.id and u == command.actor_id
    )
    return Reply(200, {"comment_id": str(comment.id), "my_reactions": mine})


def _remove_attachment(stage: _Stage, command: RemoveAttachment) -> Reply:
    found = stage.refs.attachments.get(command.attachment_id)
    if found is None or found.task_id not in stage.tasks:
        raise NotFound("attachment not found")
    if found.uploader_id != command.actor_id and not command.admin:
        raise Forbidden("only the uploader or an administrator may delete this attachment")
    del stage.refs.attachments[found.id]
    stage.batch.extras.removed_attachments[found.id] = stage.now
    payload = {"attachment_id": str(found.id), "task_id": str(found.task_id)}
    stage.event(EventType.ATTACHMENT_REMOVED, command.actor_id, found.task_id, payload)
    return Reply(204, None)
