"""The S3 blob store against an S3-protocol server over HTTP (moto in server mode):
uploads become visible only when committed, aborted and abandoned uploads leave
nothing, presigned URLs round-trip byte-exact and expire."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from storage import blob_s3
from storage.blob_s3 import S3BlobStore
from storage.blobs import BlobConfig
from tests.integration.conftest import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
async def store(s3_endpoint: str) -> AsyncIterator[S3BlobStore]:
    bucket = f"taskhive-{uuid.uuid4().hex[:12]}"
    config = BlobConfig(
        local_dir="unused",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_access_key_id="test",
        s3_secret_access_key="test",  # moto accepts any credentials
    )
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)
    s = S3BlobStore(config)
    yield s
    await s.close()


async def test_multipart_upload_round_trips_through_a_presigned_url(store: S3BlobStore) -> None:
    data = os.urandom(blob_s3.PART_BYTES * 2 + 12345)  # three parts, the last one short
    writer = await store.begin("attachments/org/a1")
    for i in range(0, len(data), 256 * 1024):
        await writer.write(data[i : i + 256 * 1024])
    assert not await store.exists("attachments/org/a1")  # nothing visible before commit
    await writer.commit()
    assert await store.exists("attachments/org/a1")

    url = await store.presigned_url(
        "attachments/org/a1", filename="ré port.bin", content_type="application/octet-stream"
    )
    assert url is not None and "X-Amz-Signature" in url
    async with httpx.AsyncClient() as client:
        r = await client.get(url)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
    assert "attachment" in r.headers["content-disposition"]


async def test_abort_and_abandoned_uploads_leave_nothing(store: S3BlobStore) -> None:
    aborted = await store.begin("attachments/org/aborted")
    await aborted.write(b"x" * 1000)
    await aborted.abort()
    abandoned = await store.begin("attachments/org/abandoned")
    await abandoned.write(b"y" * 1000)
    assert not await store.exists("attachments/org/aborted")
    assert not await store.exists("attachments/org/abandoned")
    # moto reports every upload as initiated in 2010, so age cannot be checked here.
    await asyncio.sleep(1.1)
    assert await store.sweep_abandoned(older_than_s=1) == 1
    with pytest.raises(Exception):  # noqa: B017 - the upload is gone: completing it fails
        await abandoned.commit()
    assert [k async for k in store.list_keys("attachments/", 0)] == []


async def test_presigned_url_is_short_lived(store: S3BlobStore) -> None:
    """moto serves presigned URLs but does not enforce their expiry, so the test checks
    what S3 enforces: the signed `X-Amz-Date` is now and `X-Amz-Expires` the TTL (a
    tampered expiry would break the signature, which the last request shows)."""
    await store.put("thumbnails/org/t.png", b"png bytes", "image/png")
    url = await store.presigned_url(
        "thumbnails/org/t.png", filename="t.png", content_type="image/png", ttl_s=60
    )
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["60"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 30
    default = await store.presigned_url("thumbnails/org/t.png", filename="t", content_type="x")
    assert default is not None and "X-Amz-Expires=300" in default
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"png bytes"


async def test_public_base_url_is_signed_for(s3_endpoint: str, store: S3BlobStore) -> None:
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    config = BlobConfig(
        local_dir="unused",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=store.bucket,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_public_base_url=public,
    )
    cdn = S3BlobStore(config)
    await cdn.put("attachments/org/p", b"public", "text/plain")
    url = await cdn.presigned_url("attachments/org/p", filename="p", content_type="text/plain")
    assert url is not None and url.startswith(public)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"public"
    await cdn.delete("attachments/org/p")
    assert not await cdn.exists("attachments/org/p")
