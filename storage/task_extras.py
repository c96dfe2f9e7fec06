"""Comments, reactions and attachment rows: read for a grain's batch, written in its commit.

These are not hot state. At the start of a batch the grain reads the rows its
commands refer to (`load_refs`); being the project's only writer, what it reads
is current. The stage records changes in `Extras`, which `ProjectStore.commit`
writes with `write_extras` inside the batch's one transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.attachments import Attachment
from domain.comments import Comment
from storage import tables as t

Reaction = tuple[UUID, UUID, str]  # (comment_id, user_id, emoji)


@dataclass(slots=True)
class Refs:
    """Live rows a batch's commands refer to, as the stage has left them so far."""

    comments: dict[UUID, Comment] = field(default_factory=dict)
    reactions: set[Reaction] = field(default_factory=set)
    attachments: dict[UUID, Attachment] = field(default_factory=dict)


@dataclass(slots=True)
class Extras:
    """The comment and attachment writes of one batch."""

    new_comments: dict[UUID, Comment] = field(default_factory=dict)
    changed_comments: dict[UUID, Comment] = field(default_factory=dict)
    #: (the comment before the edit, editor, when): its body becomes a revision row.
    revisions: list[tuple[Comment, UUID, datetime]] = field(default_factory=list)
    deleted_comments: dict[UUID, datetime] = field(default_factory=dict)
    reactions_added: list[tuple[Reaction, UUID]] = field(default_factory=list)  # + org
    reactions_removed: list[Reaction] = field(default_factory=list)
    new_attachments: list[Attachment] = field(default_factory=list)
    removed_attachments: dict[UUID, datetime] = field(default_factory=dict)
    thumbnails: dict[UUID, str] = field(default_factory=dict)
    #: Tasks deleted in the batch: their comments and attachments go with them.
    purged_tasks: list[UUID] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.new_comments,
                self.changed_comments,
                self.deleted_comments,
                self.reactions_added,
                self.reactions_removed,
                self.new_attachments,
                self.removed_attachments,
                self.thumbnails,
                self.purged_tasks,
            )
        )


def comment_from_row(row: Any) -> Comment:
    return Comment(
        id=row.id,
        org_id=row.org_id,
        project_id=row.project_id,
        task_id=row.task_id,
        author_id=row.author_id,
        body=row.body,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revision=row.revision,
    )


def attachment_from_row(row: Any) -> Attachment:
    return Attachment(
        id=row.id,
        org_id=row.org_id,
        project_id=row.project_id,
        task_id=row.task_id,
        uploader_id=row.uploader_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        blob_key=row.blob_key,
        created_at=row.created_at,
        thumbnail_key=row.thumbnail_key,
    )


async def load_refs(
    engine: AsyncEngine,
    project_id: UUID,
    comment_ids: Collection[UUID],
    attachment_ids: Collection[UUID],
) -> Refs:
    """The live comments (with their reactions) and attachments of the project named."""
    refs = Refs()
    if not comment_ids and not attachment_ids:
        return refs
    async with engine.connect() as conn:
        if comment_ids:
            c = t.comments.c
            rows = await conn.execute(
                select(t.comments).where(
                    c.project_id == project_id, c.id.in_(list(comment_ids)), c.deleted_at.is_(None)
                )
            )
            refs.comments = {r.id: comment_from_row(r) for r in rows}
            r_ = t.comment_reactions.c
            reactions = await conn.execute(
                select(r_.comment_id, r_.user_id, r_.emoji).where(
                    r_.comment_id.in_(list(refs.comments))
                )
            )
            refs.reactions = {(r.comment_id, r.user_id, r.emoji) for r in reactions}
        if attachment_ids:
            a = t.attachments.c
            rows = await conn.execute(
                select(t.attachments).where(
                    a.project_id == project_id,
                    a.id.in_(list(attachment_ids)),
                    a.deleted_at.is_(None),
                )
            )
            refs.attachments = {r.id: attachment_from_row(r) for r in rows}
    return refs


def _comment_row(c: Comment) -> dict[str, Any]:
    return {
        "id": c.id,
        "org_id": c.org_id,
        "project_id": c.project_id,
        "task_id": c.task_id,
        "author_id": c.author_id,
        "body": c.body,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "revision": c.revision,
    }


def _attachment_row(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "org_id": a.org_id,
        "project_id": a.project_id,
        "task_id": a.task_id,
        "uploader_id": a.uploader_id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "blob_key": a.blob_key,
        "created_at": a.created_at,
        "thumbnail_key": a.thumbnail_key,
    }


async def write_extras(
    conn: AsyncConnection, x: Extras, *, project_id: UUID, project_deleted: bool, now: datetime
) -> None:
    """Write one batch's comment and attachment changes (inside the commit's transaction)."""
    c = t.comments.c
    if x.new_comments:
        await conn.execute(t.comments.insert(), [_comment_row(v) for v in x.new_comments.values()])
    for comment in x.changed_comments.values():
        await conn.execute(
            update(t.comments)
            .where(c.id == comment.id)
            .values(body=comment.body, updated_at=comment.updated_at, revision=comment.revision)
        )
    if x.revisions:
        await conn.execute(
            t.comment_revisions.insert(),
            [
                {
                    "comment_id": before.id,
                    "revision": before.revision,
                    "org_id": before.org_id,
                    "body": before.body,
                    "editor_id": editor,
                    "replaced_at": at,
                }
                for before, editor, at in x.revisions
            ],
        )
    for comment_id, at in x.deleted_comments.items():
        await conn.execute(update(t.comments).where(c.id == comment_id).values(deleted_at=at))
    if x.reactions_added:
        await conn.execute(
            pg_insert(t.comment_reactions).on_conflict_do_nothing(),
            [
                {
                    "comment_id": cid,
                    "user_id": uid,
                    "emoji": emoji,
                    "org_id": org,
                    "created_at": now,
                }
                for (cid, uid, emoji), org in x.reactions_added
            ],
        )
    if x.reactions_removed:
        r = t.comment_reactions.c
        await conn.execute(
            delete(t.comment_reactions).where(
                tuple_(r.comment_id, r.user_id, r.emoji).in_(x.reactions_removed)
            )
        )
    await _write_attachments(
        conn, x, project_id=project_id, project_deleted=project_deleted, now=now
    )


async def _write_attachments(
    conn: AsyncConnection, x: Extras, *, project_id: UUID, project_deleted: bool, now: datetime
) -> None:
    a = t.attachments.c
    if x.new_attachments:
        await conn.execute(t.attachments.insert(), [_attachment_row(v) for v in x.new_attachments])
    for attachment_id, key in x.thumbnails.items():
        await conn.execute(
            update(t.attachments).where(a.id == attachment_id).values(thumbnail_key=key)
        )
    for attachment_id, at in x.removed_attachments.items():
        await conn.execute(update(t.attachments).where(a.id == attachment_id).values(deleted_at=at))
    if x.purged_tasks or project_deleted:
        # A deleted task's (or project's) comments and attachments go with it; the
        # collector then removes the attachments' blobs.
        for table in (t.comments, t.attachments):
            scope = and_(table.c.project_id == project_id, table.c.deleted_at.is_(None))
            if not project_deleted:
                scope = and_(scope, table.c.task_id.in_(x.purged_tasks))
            await conn.execute(update(table).where(scope).values(deleted_at=now))
