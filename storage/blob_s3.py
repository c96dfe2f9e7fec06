"""The S3 blob store (boto3; any S3-protocol server: AWS, MinIO, Ceph, moto).

An upload is a multipart upload straight to the final key: S3 makes the object
visible only when the upload is completed, so a crash half-way leaves nothing
visible, just an incomplete upload that `sweep_abandoned` aborts (a bucket
lifecycle rule for incomplete uploads does the same job server-side). Parts are
buffered up to `PART_BYTES` at a time: memory per upload is bounded by that.

boto3 is synchronous; every call runs in a worker thread. Every call has time
limits (`BlobConfig.s3_connect_timeout_s`, `s3_read_timeout_s`, and at most
`s3_max_attempts` attempts, botocore's standard retry mode) and goes through the
process's `s3` breaker for the endpoint (`storage.breaker`): an unreachable or
hung S3 costs a caller at most those limits, then, once the breaker opened,
nothing (`DependencyUnavailable`, a 503 with `Retry-After`) until a trial call
finds S3 back. S3 answering with an error (a missing key) is not an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.blobs import BlobConfig, BlobWriter
from storage.breaker import Breaker, breaker

#: S3's smallest part (but the last) is 5 MiB; 8 MiB parts keep 200 MB at 25 parts.
PART_BYTES = 8 * 1024 * 1024
#: Sending a body may take this long per byte on top of the time limits (1 MB/s).
_SEND_S_PER_BYTE = 1e-6


def _client(config: BlobConfig, endpoint: str | None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=config.s3_region or "us-east-1",
        aws_access_key_id=config.s3_access_key_id,
        aws_secret_access_key=config.s3_secret_access_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=config.s3_connect_timeout_s,
            read_timeout=config.s3_read_timeout_s,
            retries={"mode": "standard", "total_max_attempts": config.s3_max_attempts},
        ),
    )


class _Calls:
    """Runs boto3 calls in a thread, within the time limits, through the breaker."""

    def __init__(self, config: BlobConfig) -> None:
        self.breaker: Breaker = breaker("s3", config.s3_endpoint_url or "aws")
        attempt_s = config.s3_connect_timeout_s + config.s3_read_timeout_s
        # botocore enforces the limits per attempt; this bound is the backstop
        # (a thread that ignored them) and includes the backoff between attempts.
        self._limit_s = config.s3_max_attempts * (attempt_s + 1.0)

    async def __call__(self, fn: Callable[..., Any], *, body_bytes: int = 0, **kw: Any) -> Any:
        limit = self._limit_s + body_bytes * _SEND_S_PER_BYTE
        return await self.breaker.call(asyncio.to_thread(fn, **kw), timeout_s=limit)


class _S3Writer:
    def __init__(self, calls: _Calls, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self._call = calls
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []

    async def _flush(self) -> None:
        number = len(self._parts) + 1
        body = bytes(self._buffer)
        self._buffer.clear()
        result = await self._call(
            self._client.upload_part,
            body_bytes=len(body),
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"PartNumber": number, "ETag": result["ETag"]})

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= PART_BYTES:
            await self._flush()

    async def commit(self) -> None:
        if self._buffer or not self._parts:
            await self._flush()
        await self._call(
            self._client.complete_multipart_upload,
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    async def abort(self) -> None:
        self._buffer.clear()
        await self._call(
            self._client.abort_multipart_upload,
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
        )


class S3BlobStore:
    def __init__(self, config: BlobConfig) -> None:
        assert config.s3_bucket is not None
        self._config = config
        self.bucket = config.s3_bucket
        self._client = _client(config, config.s3_endpoint_url)
        self._call = _Calls(config)
        # Signed for the host clients will use: a CDN/public base, if configured.
        self._signer = (
            _client(config, config.s3_public_base_url)
            if config.s3_public_base_url
            else self._client
        )

    async def begin(self, key: str) -> BlobWriter:
        created = await self._call(
            self._client.create_multipart_upload, Bucket=self.bucket, Key=key
        )
        return _S3Writer(self._call, self._client, self.bucket, key, created["UploadId"])

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call(
            self._client.put_object,
            body_bytes=len(data),
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
        )

    async def read(self, key: str, max_bytes: int) -> bytes | None:
        try:
            got = await self._call(self._client.get_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return None
        size = int(got["ContentLength"])
        if size > max_bytes:
            got["Body"].close()
            return None
        data: bytes = await self._call(got["Body"].read, body_bytes=size)
        return data

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def exists(self, key: str) -> bool:
        try:
            await self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return True

    def local_path(self, key: str) -> Path | None:
        return None

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_s: int | None = None
    ) -> str | None:
        # Signing is local, but a link into a known outage helps nobody: while the
        # breaker is open the caller gets the same 503 an upload would.
        self._call.breaker.refuse_if_open()
        disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
        url: str = await asyncio.to_thread(
            self._signer.generate_presigned_url,
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=ttl_s or self._config.presign_ttl_s,
        )
        return url

    async def list_keys(self, prefix: str, older_than_s: float) -> AsyncIterator[str]:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = await self._call(
                self._client.list_objects_v2, Bucket=self.bucket, Prefix=prefix, **extra
            )
            for item in page.get("Contents", []):
                if item["LastModified"] < cutoff:
                    yield item["Key"]
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    async def sweep_abandoned(self, older_than_s: float) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        page = await self._call(self._client.list_multipart_uploads, Bucket=self.bucket)
        removed = 0
        for upload in page.get("Uploads", []):
            if upload["Initiated"] < cutoff:
                await self._call(
                    self._client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
                removed += 1
        return removed

    async def close(self) -> None:
        return None
