"""The S3 blob store (boto3; any S3-protocol server: AWS, MinIO, Ceph, moto).

An upload is a multipart upload straight to the final key: S3 makes the object
visible only when the upload is completed, so a crash half-way leaves nothing
visible, just an incomplete upload that `sweep_abandoned` aborts (a bucket
lifecycle rule for incomplete uploads does the same job server-side). Parts are
buffered up to `PART_BYTES` at a time: memory per upload is bounded by that.

boto3 is synchronous; every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.blobs import BlobConfig, BlobWriter

#: S3's smallest part (but the last) is 5 MiB; 8 MiB parts keep 200 MB at 25 parts.
PART_BYTES = 8 * 1024 * 1024


def _client(config: BlobConfig, endpoint: str | None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=config.s3_region or "us-east-1",
        aws_access_key_id=config.s3_access_key_id,
        aws_secret_access_key=config.s3_secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


class _S3Writer:
    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
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
        result = await asyncio.to_thread(
            self._client.upload_part,
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
        await asyncio.to_thread(
            self._client.complete_multipart_upload,
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    async def abort(self) -> None:
        self._buffer.clear()
        await asyncio.to_thread(
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
        # Signed for the host clients will use: a CDN/public base, if configured.
        self._signer = (
            _client(config, config.s3_public_base_url)
            if config.s3_public_base_url
            else self._client
        )

    async def begin(self, key: str) -> BlobWriter:
        created = await asyncio.to_thread(
            self._client.create_multipart_upload, Bucket=self.bucket, Key=key
        )
        return _S3Writer(self._client, self.bucket, key, created["UploadId"])

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
        )

    async def read(self, key: str, max_bytes: int) -> bytes | None:
        try:
            got = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return None
        if int(got["ContentLength"]) > max_bytes:
            got["Body"].close()
            return None
        data: bytes = await asyncio.to_thread(got["Body"].read)
        return data

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return True

    def local_path(self, key: str) -> Path | None:
        return None

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_s: int | None = None
    ) -> str | None:
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
            extra = {"ContinuationToken": token} if token else {}
            page = await asyncio.to_thread(
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
        page = await asyncio.to_thread(self._client.list_multipart_uploads, Bucket=self.bucket)
        removed = 0
        for upload in page.get("Uploads", []):
            if upload["Initiated"] < cutoff:
                await asyncio.to_thread(
                    self._client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
                removed += 1
        return removed

    async def close(self) -> None:
        return None
