"""Reads of comments for the API: pages of a task's comments, one comment, its edit
history and its reactions. Every query is scoped by organisation; deleted
comments read as missing. Writes go through the project's grain
(`storage.task_extras`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.comments import Comment
from storage import tables as t
from storage.task_extras import comment_from_row


async def get_comment(conn: AsyncConnection, *, org_id: UUID, comment_id: UUID) -> Comment | None:
    c = t.comments.c
    row = (
        await conn.execute(
            select(t.comments).where(c.id == comment_id, c.org_id == org_id, c.deleted_at.is_(None))
        )
    ).one_or_none()
    return comment_from_row(row) if row is not None else None


async def list_comments(
    conn: AsyncConnection,
    *,
    org_id: UUID,
    task_id: UUID,
    after: tuple[datetime, UUID] | None,
    limit: int,
    newest_first: bool = False,
) -> list[Comment]:
    """Up to `limit + 1` live comments of the task after the cursor `(created_at, id)`."""
    c = t.comments.c
    query = select(t.comments).where(
        c.org_id == org_id, c.task_id == task_id, c.deleted_at.is_(None)
    )
    if after is not None:
        at, cid = after
        if newest_first:
            query = query.where(or_(c.created_at < at, and_(c.created_at == at, c.id < cid)))
        else:
            query = query.where(or_(c.created_at > at, and_(c.created_at == at, c.id > cid)))
    order = (c.created_at.desc(), c.id.desc()) if newest_first else (c.created_at, c.id)
    rows = await conn.execute(query.order_by(*order).limit(limit + 1))
    return [comment_from_row(r) for r in rows]


async def revisions(conn: AsyncConnection, *, comment: Comment) -> list[dict[str, Any]]:
    """Every body the comment had, oldest first, the current one last."""
    r = t.comment_revisions.c
    rows = await conn.execute(
        select(r.revision, r.body, r.editor_id, r.replaced_at)
        .where(r.comment_id == comment.id, r.org_id == comment.org_id)
        .order_by(r.revision)
    )
    history = [
        {
            "revision": row.revision,
            "body": row.body,
            "replaced_by": str(row.editor_id),
            "replaced_at": row.replaced_at.isoformat(),
        }
        for row in rows
    ]
    history.append(
        {
            "revision": comment.revision,
            "body": comment.body,
            "replaced_by": None,
            "replaced_at": None,
        }
    )
    return history


async def reactions(
    conn: AsyncConnection, comment_ids: Collection[UUID], *, viewer: UUID
) -> dict[UUID, list[dict[str, Any]]]:
    """Per comment: `[{emoji, count, me}]`, in the order each emoji was first used."""
    if not comment_ids:
        return {}
    r = t.comment_reactions.c
    rows = await conn.execute(
        select(r.comment_id, r.emoji, r.user_id)
        .where(r.comment_id.in_(list(comment_ids)))
        .order_by(r.created_at, r.emoji)
    )
    grouped: dict[UUID, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        entry = grouped[row.comment_id].setdefault(
            row.emoji, {"emoji": row.emoji, "count": 0, "me": False}
        )
        entry["count"] += 1
        entry["me"] = entry["me"] or row.user_id == viewer
    return {cid: list(by_emoji.values()) for cid, by_emoji in grouped.items()}
