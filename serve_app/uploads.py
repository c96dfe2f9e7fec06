"""Streaming a multipart upload into a blob, never holding the file in memory.

`receive_file` feeds `request.stream()` chunk by chunk to python-multipart's
callback parser; the bytes of the part named `file` go straight to a
`BlobWriter` while their size, SHA-256 and first bytes (for sniffing) are taken
on the way. Memory per upload is one network chunk (plus, on S3, one part
buffer), whatever the file's size. Other form fields are parsed and dropped.

Over `limit` bytes the writer is aborted and `too_large` is raised at once;
nothing stays behind. The blob only becomes visible when the caller commits it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import puremagic
from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.attachments import sanitize_filename
from domain.errors import DomainError, InvalidInput
from storage.blobs import BlobWriter

#: Bytes of the file's start the content type is sniffed from.
SNIFF_BYTES = 8192
#: Allowance for the multipart framing around the file in `Content-Length`.
FRAMING_BYTES = 64 * 1024


@dataclass(slots=True)
class Received:
    filename: str = "file"
    size: int = 0
    sha256: str = ""
    content_type: str = "application/octet-stream"
    found: bool = False
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _head: bytearray = field(default_factory=bytearray)


def sniff(head: bytes) -> str:
    """The content type from the file's first bytes: never from the client's say-so."""
    try:
        found = puremagic.from_string(head, mime=True) if head else ""
    except (puremagic.PureError, ValueError):
        found = ""
    if found:
        return str(found)
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:  # a character cut at the sniff boundary
                return "text/plain"
    return "application/octet-stream"


class _Form:
    """python-multipart's callbacks: headers of each part, and the `file` part's bytes
    collected into `pending` for the caller to write after each parser step."""

    def __init__(self, got: Received) -> None:
        self.got = got
        self.pending: list[bytes] = []
        self.headers: dict[bytes, bytes] = {}
        self.in_file = False
        self.done = False
        self._field = b""
        self._value = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.headers.clear,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.in_file = disposition.get(b"name") == b"file" and not self.done
        if self.in_file:
            self.got.found = True
            raw = disposition.get(b"filename", b"").decode("utf-8", "replace")
            self.got.filename = sanitize_filename(raw)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        if self.in_file:
            self.in_file, self.done = False, True


async def receive_file(
    request: Request, writer: BlobWriter, *, limit: int, too_large: Callable[[int], DomainError]
) -> Received:
    """Stream the form's `file` part into `writer` (not committed); its facts.

    Raises `too_large(limit)` past `limit` bytes and `InvalidInput` for a body that
    is not multipart or has no `file`; the writer is aborted in every failure.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidInput("send the file as multipart/form-data in the field 'file'")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + FRAMING_BYTES:
        raise too_large(limit)

    got = Received()
    form = _Form(got)
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    pending = form.pending
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if not pending:
                continue
            piece = b"".join(pending)
            pending.clear()
            got.size += len(piece)
            if got.size > limit:
                raise too_large(limit)
            got._hash.update(piece)
            if len(got._head) < SNIFF_BYTES:
                got._head += piece[: SNIFF_BYTES - len(got._head)]
            await writer.write(piece)
        parser.finalize()
        if not got.found:
            raise InvalidInput.field("file", "the form has no file field")
    except BaseException:
        await writer.abort()
        raise
    got.sha256 = got._hash.hexdigest()
    got.content_type = sniff(bytes(got._head))
    return got


#: Request-body messages (each up to ~64 KB) an upload may have queued unread.
QUEUED_MESSAGES = 16


class BoundedUploadBody:
    """Restores backpressure for uploads under Ray Serve's direct ingress.

    A direct-ingress replica reads each request's body eagerly into an unbounded
    queue (`ray.serve._private.direct_ingress_http_util.ASGIDIReceiveProxy`), so a
    client sending faster than the blob store takes the bytes fills the replica's
    memory, and uvicorn's own flow control never engages. For upload requests this
    middleware, which runs before anything awaits, swaps that queue for a bounded
    one: its reader then waits for us, uvicorn stops reading the socket, and TCP
    slows the client down. Any other receive callable is left alone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/attachments")
        ):
            _bound_queue(receive)
        await self.app(scope, receive, send)


def _bound_queue(receive: Receive) -> None:
    if type(receive).__name__ != "ASGIDIReceiveProxy" or not hasattr(receive, "_queue"):
        return
    old: asyncio.Queue[Any] | None = receive._queue
    waiting = [] if old is None else [old.get_nowait() for _ in range(old.qsize())]
    # Synchronous from here to the assignment: the reader cannot interleave a put.
    new: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(QUEUED_MESSAGES, len(waiting)))
    for message in waiting:
        new.put_nowait(message)
    receive._queue = new
