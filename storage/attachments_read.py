"""Reads of attachment metadata for the API and the collector: one attachment, a
task's attachments, an organisation's storage use and quota, and the rows whose
blobs are due for removal. Writes of live rows go through the project's grain."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.attachments import Attachment
from storage import tables as t
from storage.task_extras import attachment_from_row


async def get_attachment(
    conn: AsyncConnection, *, org_id: UUID, attachment_id: UUID
) -> Attachment | None:
    a = t.attachments.c
    row = (
        await conn.execute(
            select(t.attachments).where(
                a.id == attachment_id, a.org_id == org_id, a.deleted_at.is_(None)
            )
        )
    ).one_or_none()
    return attachment_from_row(row) if row is not None else None


async def list_attachments(
    conn: AsyncConnection, *, org_id: UUID, task_id: UUID
) -> list[Attachment]:
    a = t.attachments.c
    rows = await conn.execute(
        select(t.attachments)
        .where(a.org_id == org_id, a.task_id == task_id, a.deleted_at.is_(None))
        .order_by(a.created_at, a.id)
    )
    return [attachment_from_row(r) for r in rows]


async def storage_used(conn: AsyncConnection, org_id: UUID) -> int:
    """Bytes of the organisation's live attachments."""
    a = t.attachments.c
    used = await conn.scalar(
        select(func.coalesce(func.sum(a.size), 0)).where(a.org_id == org_id, a.deleted_at.is_(None))
    )
    return int(used or 0)


async def storage_quota(conn: AsyncConnection, org_id: UUID, default: int) -> int:
    """The organisation's quota: its `org_quotas` row, else `default`."""
    q = t.org_quotas.c
    found = await conn.scalar(select(q.storage_bytes).where(q.org_id == org_id))
    return int(found) if found is not None else default


async def deleted_attachments(conn: AsyncConnection, limit: int) -> list[Attachment]:
    """Deleted attachments whose blobs have not been removed yet."""
    a = t.attachments.c
    rows = await conn.execute(
        select(t.attachments).where(a.deleted_at.is_not(None)).order_by(a.deleted_at).limit(limit)
    )
    return [attachment_from_row(r) for r in rows]


async def forget(conn: AsyncConnection, attachment_ids: Collection[UUID]) -> None:
    """Drop the rows of deleted attachments whose blobs are gone."""
    a = t.attachments.c
    await conn.execute(
        delete(t.attachments).where(a.id.in_(list(attachment_ids)), a.deleted_at.is_not(None))
    )


async def known_ids(conn: AsyncConnection, attachment_ids: Collection[UUID]) -> set[UUID]:
    """Which of these attachments have a row (live or deleted)."""
    if not attachment_ids:
        return set()
    a = t.attachments.c
    rows = await conn.scalars(select(a.id).where(a.id.in_(list(attachment_ids))))
    return set(rows)
