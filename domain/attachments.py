"""Attachments: the pure rules for their metadata.

The bytes live in a blob store (`storage.blobs`); a row in `attachments` is the
attachment. The replica streams an upload to a temporary blob, moves it to its
final key and only then asks the project's grain to record the row, so a crash
half-way leaves at most an unreferenced blob (which the collector removes) and
never a row without its blob.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

#: Content types a thumbnail is made for (Pillow decodes them safely).
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: The longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 320

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
_MAX_NAME_BYTES = 255


@dataclass(frozen=True, slots=True)
class Attachment:
    id: UUID
    org_id: UUID
    project_id: UUID
    task_id: UUID
    uploader_id: UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    blob_key: str
    created_at: datetime
    thumbnail_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "task_id": str(self.task_id),
            "project_id": str(self.project_id),
            "uploader_id": str(self.uploader_id),
            "filename": self.filename,
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
            "has_thumbnail": self.thumbnail_key is not None,
        }


def blob_key(org_id: UUID, attachment_id: UUID) -> str:
    """Where an attachment's bytes live once finalised."""
    return f"attachments/{org_id}/{attachment_id}"


def thumbnail_key(org_id: UUID, attachment_id: UUID) -> str:
    return f"thumbnails/{org_id}/{attachment_id}.png"


def sanitize_filename(raw: str | None) -> str:
    """A display and download name safe on every file system and in a header.

    Keeps only the last path component, drops control characters and the
    characters Windows forbids, normalises to NFC, strips leading dots (no hidden
    files) and trims to 255 UTF-8 bytes keeping the extension. Never empty.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name:
        return "file"
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and len(ext) <= 16 else ""
        stem = stem if ext else name
        budget = _MAX_NAME_BYTES - len(ext.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = stem + ext
    return name


def wants_thumbnail(content_type: str) -> bool:
    return content_type in THUMBNAIL_TYPES
