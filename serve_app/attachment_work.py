"""The replica's side of attachments besides HTTP: its blob store, and thumbnails.

Thumbnails are made after the attachment is committed, in the background of the
replica that took the upload (Pillow in a worker thread), stored as a PNG blob,
and recorded through the grain (`SetAttachmentThumbnail`, event
`attachment.updated`) so boards see them live. A replica that dies first leaves
the image without a thumbnail: cards fall back to the file icon.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from pathlib import Path

from PIL import Image

from domain import attachments as rules
from domain.attachments import Attachment
from domain.commands import SetAttachmentThumbnail
from domain.errors import DomainError
from serve_app.context import AppContext
from storage.blobs import BlobConfig, BlobStore, open_store

log = logging.getLogger(__name__)

#: Images larger than this (bytes, or pixels once decoded) get no thumbnail.
THUMBNAIL_MAX_BYTES = 40 * 1024 * 1024
THUMBNAIL_MAX_PIXELS = 50_000_000

_background: set[asyncio.Task[None]] = set()


@functools.cache
def _store(config: BlobConfig) -> BlobStore:
    return open_store(config)


def blob_store(ctx: AppContext) -> BlobStore:
    """This replica's blob store (one per configuration, made on first use)."""
    config = ctx.config.blobs or BlobConfig(local_dir=str(Path("blobs").resolve()))
    return _store(config)


def make_thumbnail(data: bytes) -> bytes:
    """A PNG at most `THUMBNAIL_SIZE` pixels on its longer side. Raises on bad images."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if width * height > THUMBNAIL_MAX_PIXELS:
            raise ValueError(f"image of {width}x{height} pixels is too large to thumbnail")
        image.thumbnail((rules.THUMBNAIL_SIZE, rules.THUMBNAIL_SIZE))
        out = io.BytesIO()
        converted = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA")
        converted.save(out, "PNG", optimize=True)
        return out.getvalue()


async def _thumbnail(ctx: AppContext, attachment: Attachment) -> None:
    store = blob_store(ctx)
    data = await store.read(attachment.blob_key, THUMBNAIL_MAX_BYTES)
    if data is None:
        return
    try:
        png = await asyncio.to_thread(make_thumbnail, data)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.info("no thumbnail for attachment %s: %s", attachment.id, exc)
        return
    key = rules.thumbnail_key(attachment.org_id, attachment.id)
    await store.put(key, png, "image/png")
    command = SetAttachmentThumbnail(attachment.id, key)
    pid = attachment.project_id
    try:
        await ctx.router.call(pid, "apply", attachment.org_id, pid, command, None)
    except DomainError:  # deleted meanwhile: the collector removes the thumbnail with it
        await store.delete(key)


def schedule_thumbnail(ctx: AppContext, attachment: Attachment) -> None:
    """Make the attachment's thumbnail in the background if it is an image."""
    if not rules.wants_thumbnail(attachment.content_type):
        return

    async def run() -> None:
        try:
            await _thumbnail(ctx, attachment)
        except Exception:
            log.exception("thumbnail of attachment %s failed", attachment.id)

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)
