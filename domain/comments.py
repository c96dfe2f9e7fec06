"""Comments on tasks: the pure rules for their text, who may change them, reactions.

A comment's body is markdown, stored exactly as written (rendering to HTML is the
API's job and happens on the way out). Comments live in PostgreSQL, not in a
grain's hot state; the grain decides their changes against rows it reads at the
start of each batch (it is the project's only writer, so those rows are current).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge

#: The largest body accepted, in UTF-8 bytes.
MAX_BODY_BYTES = 64 * 1024
#: The longest reaction accepted, in code points (a family emoji with skin tones
#: and joiners is about a dozen).
MAX_EMOJI_CHARS = 16

#: Organisation roles that may delete anyone's comment or attachment.
ADMIN_ROLES = frozenset({"owner", "admin"})


@dataclass(frozen=True, slots=True)
class Comment:
    id: UUID
    org_id: UUID
    project_id: UUID
    task_id: UUID
    author_id: UUID
    body: str
    created_at: datetime
    updated_at: datetime
    #: How many times the body was edited (each edit keeps the previous body).
    revision: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "task_id": str(self.task_id),
            "project_id": str(self.project_id),
            "author_id": str(self.author_id),
            "body": self.body,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "revision": self.revision,
            "edited": self.revision > 0,
        }


def check_body(body: str) -> str:
    """The body as given, if it has text and fits; else 422 (empty) or 413 (too large)."""
    if not body.strip():
        raise InvalidInput.field("body", "must not be empty")
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"comment body is {size} bytes; the limit is {MAX_BODY_BYTES}")
    return body


def edited(comment: Comment, body: str, now: datetime) -> Comment:
    return replace(comment, body=check_body(body), updated_at=now, revision=comment.revision + 1)


def check_author(comment: Comment | None, actor: UUID) -> Comment:
    """Only its author may edit a comment (403 for other members, who can see it)."""
    if comment is None:
        raise NotFound("comment not found")
    if comment.author_id != actor:
        raise Forbidden("only the author may edit this comment")
    return comment


def check_deleter(comment: Comment | None, actor: UUID, *, admin: bool) -> Comment:
    """Its author, or an administrator, may delete a comment."""
    if comment is None:
        raise NotFound("comment not found")
    if comment.author_id != actor and not admin:
        raise Forbidden("only the author or an administrator may delete this comment")
    return comment


def check_emoji(emoji: str) -> str:
    """One emoji (with its modifiers and joiners): symbols only, no letters or spaces."""
    if not 1 <= len(emoji) <= MAX_EMOJI_CHARS:
        raise InvalidInput.field("emoji", f"must be 1 to {MAX_EMOJI_CHARS} characters")
    for ch in emoji:
        category = unicodedata.category(ch)
        # So: pictographs; Sk: skin-tone modifiers; Mn/Me: variation selectors and
        # the keycap mark; Cf: the zero-width joiner and tag characters.
        keycap_base = ch in "#*0123456789" and "\u20e3" in emoji
        if category not in ("So", "Sk", "Mn", "Me", "Cf") and not keycap_base:
            raise InvalidInput.field("emoji", "must be a single emoji")
    if unicodedata.category(emoji[0]) != "So" and emoji[0] not in "#*0123456789":
        raise InvalidInput.field("emoji", "must be a single emoji")
    return emoji
