"""Attachments of tasks: streamed uploads, metadata, downloads, deletion.

An upload streams into the blob store (`serve_app.uploads`) within the per-file
limit and the organisation's remaining quota, becomes visible in the store only
when complete, and is then recorded through the project's grain (event
`attachment.added`). If the grain refuses (the task was deleted meanwhile) the
blob is removed again. Downloads redirect to a short-lived presigned URL (S3) or
are streamed by the replica with range support (local store).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from domain import attachments as rules
from domain.attachments import Attachment
from domain.commands import AddAttachment, RemoveAttachment
from domain.errors import DomainError, InsufficientStorage, NotFound, PayloadTooLarge
from domain.permissions import Action
from serve_app.access import access_attachment, access_task, is_project_admin
from serve_app.attachment_work import blob_store, schedule_thumbnail
from serve_app.context import Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.responses import json_response
from serve_app.uploads import receive_file
from storage import attachments_read

task_router = APIRouter(prefix="/api/v1/tasks", tags=["attachments"])
router = APIRouter(prefix="/api/v1/attachments", tags=["attachments"])


@task_router.post("/{ref}/attachments", status_code=201)
async def upload(ref: str, request: Request, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Attach a file (multipart, field `file`). 413 over the per-file limit, 507 when
    the organisation's storage quota would be exceeded."""
    project_id, task_id = await access_task(ctx, principal, ref, Action.WRITE_TASKS)
    config = ctx.config
    async with ctx.engine.connect() as conn:
        used = await attachments_read.storage_used(conn, principal.org_id)
        quota = await attachments_read.storage_quota(
            conn, principal.org_id, config.org_storage_quota_bytes
        )
    room = quota - used
    if room <= 0:
        raise InsufficientStorage(f"the organisation's storage quota of {quota} bytes is used up")
    limit = min(config.attachment_max_bytes, room)

    def too_large(cap: int) -> DomainError:
        if cap < config.attachment_max_bytes:
            return InsufficientStorage(
                f"the file does not fit in the organisation's remaining storage ({room} of "
                f"{quota} bytes)"
            )
        return PayloadTooLarge(f"the file is larger than the limit of {cap} bytes")

    store = blob_store(ctx)
    attachment_id = uuid4()
    key = rules.blob_key(principal.org_id, attachment_id)
    writer = await store.begin(key)
    got = await receive_file(request, writer, limit=limit, too_large=too_large)
    await writer.commit()
    attachment = Attachment(
        id=attachment_id,
        org_id=principal.org_id,
        project_id=project_id,
        task_id=task_id,
        uploader_id=principal.user_id,
        filename=got.filename,
        content_type=got.content_type,
        size=got.size,
        sha256=got.sha256,
        blob_key=key,
        created_at=datetime.now(UTC),
    )
    idem = key_for(principal, None, method="POST", path=request.url.path, body=None)
    command = AddAttachment(principal.user_id, attachment)
    try:
        reply = await ctx.router.call(
            project_id, "apply", principal.org_id, project_id, command, idem
        )
    except BaseException:
        await store.delete(key)
        raise
    schedule_thumbnail(ctx, attachment)
    return json_response(
        reply.body, status=201, headers={"Location": f"/api/v1/attachments/{attachment_id}"}
    )


@task_router.get("/{ref}/attachments")
async def list_attachments(ref: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    project_id, task_id = await access_task(ctx, principal, ref)
    await ctx.router.call(project_id, "get_task_json", principal.org_id, project_id, task_id)
    async with ctx.reads.connect() as conn:
        found = await attachments_read.list_attachments(
            conn, org_id=principal.org_id, task_id=task_id
        )
    return json_response({"items": [a.as_json() for a in found]})


@router.get("/{attachment_id}")
async def get_attachment(attachment_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    return json_response((await access_attachment(ctx, principal, attachment_id)).as_json())


async def _download(ctx: Ctx, key: str, *, filename: str, content_type: str) -> Response:
    store = blob_store(ctx)
    url = await store.presigned_url(key, filename=filename, content_type=content_type)
    if url is not None:
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    path = store.local_path(key)
    if path is None or not path.is_file():
        raise NotFound("the attachment's content is gone")
    # Always a download, never rendered in our origin: an uploaded HTML file must
    # not run as a page of the API.
    return FileResponse(
        path,
        media_type=content_type,
        filename=filename,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


@router.get("/{attachment_id}/content")
async def download(attachment_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """The bytes: a redirect to a short-lived URL (S3), or streamed with `Range` support."""
    found = await access_attachment(ctx, principal, attachment_id)
    return await _download(
        ctx, found.blob_key, filename=found.filename, content_type=found.content_type
    )


@router.get("/{attachment_id}/thumbnail")
async def thumbnail(attachment_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """The image's PNG thumbnail; 404 until it has been made (or for non-images)."""
    found = await access_attachment(ctx, principal, attachment_id)
    if found.thumbnail_key is None:
        raise NotFound("this attachment has no thumbnail")
    name = f"{found.filename.rsplit('.', 1)[0]}-thumbnail.png"
    return await _download(ctx, found.thumbnail_key, filename=name, content_type="image/png")


@router.delete("/{attachment_id}", status_code=204)
async def delete_attachment(
    attachment_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Delete: the uploader, or an admin. The blob is removed by the collector."""
    found = await access_attachment(ctx, principal, attachment_id, Action.WRITE_TASKS)
    admin = found.uploader_id != principal.user_id and await is_project_admin(
        ctx, principal, found.project_id
    )
    idem = key_for(principal, None, method="DELETE", path=request.url.path, body=None)
    command = RemoveAttachment(principal.user_id, attachment_id, admin=admin)
    pid = found.project_id
    await ctx.router.call(pid, "apply", principal.org_id, pid, command, idem)
    return Response(status_code=204)
