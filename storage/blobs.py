"""Blob stores: where attachment bytes live, behind one small interface.

`LocalBlobStore` (a directory; the embedded default, under `<data_dir>/blobs/`)
and `S3BlobStore` (`storage.blob_s3`, any S3-protocol server) both:

- write through a `BlobWriter` that makes the blob visible at its key only on
  `commit` (local: a temporary file renamed into place; S3: a multipart upload
  completed), so an upload that dies half-way is never visible, only abandoned;
- remove what uploads abandoned (`sweep_abandoned`) and list final keys for the
  collector's orphan check (`list_keys`).

Reads: the local store names a file the API streams itself (`local_path`), S3
hands out presigned URLs (`presigned_url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True, slots=True)
class BlobConfig:
    """Which store to use: S3 when `s3_bucket` is set, else the directory `local_dir`."""

    local_dir: str
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    #: Presigned URLs are made for this base (a CDN or public endpoint) when set.
    s3_public_base_url: str | None = None
    presign_ttl_s: int = 300
    #: Time limits of one S3 request, and how many attempts botocore makes in all.
    s3_connect_timeout_s: float = 2.0
    s3_read_timeout_s: float = 10.0
    s3_max_attempts: int = 2


class BlobWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> None:
        """Make the blob visible at its key, all at once."""
        ...

    async def abort(self) -> None:
        """Discard what was written; the key is left as it was."""
        ...


class BlobStore(Protocol):
    async def begin(self, key: str) -> BlobWriter: ...

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def read(self, key: str, max_bytes: int) -> bytes | None:
        """The whole blob if it has at most `max_bytes`, else None."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing one is no error."""
        ...

    async def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None: ...

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_s: int | None = None
    ) -> str | None: ...

    def list_keys(self, prefix: str, older_than_s: float) -> AsyncIterator[str]:
        """Keys under `prefix` last written more than `older_than_s` ago."""
        ...

    async def sweep_abandoned(self, older_than_s: float) -> int:
        """Remove uploads begun more than `older_than_s` ago and never committed."""
        ...

    async def close(self) -> None: ...


def open_store(config: BlobConfig) -> BlobStore:
    if config.s3_bucket:
        from storage.blob_s3 import S3BlobStore

        return S3BlobStore(config)
    return LocalBlobStore(Path(config.local_dir))


# -- the local directory ----------------------------------------------------------

_TMP = ".uploads"


class _LocalWriter:
    def __init__(self, tmp: Path, final: Path) -> None:
        self._tmp = tmp
        self._final = final
        self._file: IO[bytes] = tmp.open("xb")

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._file.write, chunk)

    async def commit(self) -> None:
        def finish() -> None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, self._final)  # atomic: the blob appears whole or not at all

        await asyncio.to_thread(finish)

    async def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalBlobStore:
    """Blobs as files under `root`; uploads in progress under `root/.uploads/`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        (self.root / _TMP).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or key.startswith(_TMP):
            raise ValueError(f"bad blob key {key!r}")
        return path

    async def begin(self, key: str) -> BlobWriter:
        return _LocalWriter(self.root / _TMP / uuid.uuid4().hex, self._path(key))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        writer = await self.begin(key)
        await writer.write(data)
        await writer.commit()

    async def read(self, key: str, max_bytes: int) -> bytes | None:
        path = self._path(key)
        if not path.exists() or path.stat().st_size > max_bytes:
            return None
        return await asyncio.to_thread(path.read_bytes)

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_s: int | None = None
    ) -> str | None:
        return None

    async def list_keys(self, prefix: str, older_than_s: float) -> AsyncIterator[str]:
        base = self._path(prefix)
        cutoff = time.time() - older_than_s
        for path in sorted(base.rglob("*")) if base.exists() else []:
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    yield path.relative_to(self.root).as_posix()

    async def sweep_abandoned(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for path in (self.root / _TMP).iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    async def close(self) -> None:
        return None
