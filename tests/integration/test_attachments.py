"""Attachments end to end on the stack's (local) blob store: streamed uploads with
bounded replica memory, limits that leave nothing behind, byte-exact downloads with
ranges, sniffed types, thumbnails, deletion and the collector, tenant isolation."""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from cluster.stack import Stack
from tests.integration.conftest import User, create_task
from tests.integration.notify_helpers import eventually
from tests.stack_fixtures import own_api_replicas

pytestmark = pytest.mark.timeout(300)

BOUNDARY = "----taskhive-test-boundary"
MB = 1024 * 1024


def multipart(filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: text/html\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def pattern(i: int) -> bytes:
    """1 MB of deterministic, incompressible-ish bytes for chunk `i`."""
    seed = hashlib.sha256(i.to_bytes(8, "big")).digest()
    return (seed * (MB // len(seed)))[:MB]


async def streamed(size: int, digest: Any) -> AsyncIterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    ).encode()
    sent, i = 0, 0
    while sent < size:
        chunk = pattern(i)[: size - sent]
        digest.update(chunk)
        sent += len(chunk)
        i += 1
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def upload(
    client: httpx.AsyncClient, user: User, task_id: str, filename: str, data: bytes
) -> httpx.Response:
    body, headers = multipart(filename, data)
    return await client.post(
        f"/api/v1/tasks/{task_id}/attachments", content=body, headers={**headers, **user.headers}
    )


def blobs_dir(stack: Stack) -> Path:
    return stack.settings.data_dir / "blobs"


def stored_files(stack: Stack, org_id: str) -> list[Path]:
    root = blobs_dir(stack)
    return [p for p in (root / "attachments" / org_id).glob("*")] + [
        p for p in (root / ".uploads").glob("*")
    ]


class PeakRss:
    """Samples the RSS of every API replica process while in use; the largest growth."""

    def __init__(self) -> None:
        self.procs = own_api_replicas()
        assert self.procs, "no API replica process found"
        self.base = {p.pid: p.memory_info().rss for p in self.procs}
        self.peak = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for p in self.procs:
                rss = p.memory_info().rss
                self.peak[p.pid] = max(self.peak[p.pid], rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return int(max(self.peak[pid] - self.base[pid] for pid in self.base))


async def test_upload_download_round_trip_with_sniffed_type_and_ranges(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    data = b"%PDF-1.7\n" + bytes(range(256)) * 400
    r = await upload(client, alice, task["key"], "../../secret report.pdf", data)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["filename"] == "secret report.pdf"
    assert a["content_type"] == "application/pdf"  # from the bytes, not the part's text/html
    assert a["size"] == len(data) and a["sha256"] == hashlib.sha256(data).hexdigest()
    assert a["task_id"] == task["id"]

    meta = await client.get(f"/api/v1/attachments/{a['id']}", headers=alice.headers)
    assert meta.json()["sha256"] == a["sha256"]
    listed = await client.get(f"/api/v1/tasks/{task['id']}/attachments", headers=alice.headers)
    assert [x["id"] for x in listed.json()["items"]] == [a["id"]]

    url = f"/api/v1/attachments/{a['id']}/content"
    got = await client.get(url, headers=alice.headers)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "secret%20report.pdf" in got.headers["content-disposition"]
    part = await client.get(url, headers={**alice.headers, "range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"


async def test_upload_of_200_mb_streams_with_bounded_replica_memory(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], stack: Stack
) -> None:
    task = await create_task(client, alice, project["id"])
    # Warm both replicas first (HAProxy alternates): what is measured is the upload,
    # not the one-time cost of a cold replica's first one (thread pool, lazy imports).
    for i in range(4):
        warm = await upload(client, alice, task["id"], f"warm{i}.bin", pattern(i) * 2)
        assert warm.status_code == 201
    size = 200 * 1000 * 1000
    digest = hashlib.sha256()
    with PeakRss() as rss:
        r = await client.post(
            f"/api/v1/tasks/{task['id']}/attachments",
            content=streamed(size, digest),
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", **alice.headers},
            timeout=240,
        )
    assert r.status_code == 201, r.text
    assert r.json()["size"] == size and r.json()["sha256"] == digest.hexdigest()
    assert rss.growth < 50 * MB, f"replica RSS grew by {rss.growth / MB:.0f} MB"

    downloaded = hashlib.sha256()
    total = 0
    async with client.stream(
        "GET", f"/api/v1/attachments/{r.json()['id']}/content", headers=alice.headers, timeout=240
    ) as got:
        assert got.status_code == 200
        async for chunk in got.aiter_bytes():
            downloaded.update(chunk)
            total += len(chunk)
    assert total == size and downloaded.hexdigest() == digest.hexdigest()


async def test_over_the_limit_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], stack: Stack, db: Any
) -> None:
    task = await create_task(client, alice, project["id"])
    size = stack.settings.attachment_max_bytes + 1
    r = await client.post(
        f"/api/v1/tasks/{task['id']}/attachments",
        content=streamed(size, hashlib.sha256()),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", **alice.headers},
        timeout=240,
    )
    assert r.status_code == 413, r.text
    assert "limit" in r.json()["detail"]
    rows = await db.fetchval(
        "SELECT count(*) FROM attachments WHERE task_id = $1", uuid.UUID(task["id"])
    )
    assert rows == 0
    assert stored_files(stack, alice.org_id) == []


async def test_org_quota_is_507_with_a_clear_detail(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any, stack: Stack
) -> None:
    await db.execute(
        "INSERT INTO org_quotas (org_id, storage_bytes) VALUES ($1, 1500)", uuid.UUID(alice.org_id)
    )
    task = await create_task(client, alice, project["id"])
    assert (await upload(client, alice, task["id"], "a.txt", b"a" * 1000)).status_code == 201
    r = await upload(client, alice, task["id"], "b.txt", b"b" * 1000)
    assert r.status_code == 507 and "storage" in r.json()["detail"]
    r = await upload(client, alice, task["id"], "c.txt", b"c" * 500)
    assert r.status_code == 201
    r = await upload(client, alice, task["id"], "d.txt", b"d")
    assert r.status_code == 507 and "used up" in r.json()["detail"]
    assert len(stored_files(stack, alice.org_id)) == 2


async def test_bad_forms_are_422(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    url = f"/api/v1/tasks/{task['id']}/attachments"
    r = await client.post(url, json={"file": "x"}, headers=alice.headers)
    assert r.status_code == 422
    body = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--{BOUNDARY}--\r\n'
    r = await client.post(
        url,
        content=body.encode(),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", **alice.headers},
    )
    assert r.status_code == 422


async def test_image_gets_a_thumbnail(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    png = io.BytesIO()
    Image.new("RGB", (1200, 600), (200, 30, 30)).save(png, "PNG")
    a = (await upload(client, alice, task["id"], "photo.png", png.getvalue())).json()
    assert a["content_type"] == "image/png"

    async def meta() -> dict[str, Any]:
        r = await client.get(f"/api/v1/attachments/{a['id']}", headers=alice.headers)
        body: dict[str, Any] = r.json()
        return body

    await eventually(meta, lambda m: m["has_thumbnail"])
    r = await client.get(f"/api/v1/attachments/{a['id']}/thumbnail", headers=alice.headers)
    assert r.status_code == 200
    with Image.open(io.BytesIO(r.content)) as thumb:
        assert max(thumb.size) == 320 and thumb.format == "PNG"


async def test_delete_removes_the_blob_eventually(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], stack: Stack, db: Any
) -> None:
    task = await create_task(client, alice, project["id"])
    a = (await upload(client, alice, task["id"], "x.txt", b"bye")).json()
    b = (await upload(client, alice, task["id"], "y.txt", b"bye too")).json()
    path = blobs_dir(stack) / "attachments" / alice.org_id / a["id"]
    assert path.exists()
    r = await client.delete(f"/api/v1/attachments/{a['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert (
        await client.get(f"/api/v1/attachments/{a['id']}", headers=alice.headers)
    ).status_code == 404

    async def gone() -> bool:
        return not path.exists()

    await eventually(gone, bool, timeout=30)
    # Deleting the task removes its remaining attachments the same way.
    other = blobs_dir(stack) / "attachments" / alice.org_id / b["id"]
    await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)

    async def other_gone() -> bool:
        # The collector deletes the blob first, then the row (a crash in between
        # repeats a harmless delete): wait for both.
        rows = await db.fetchval(
            "SELECT count(*) FROM attachments WHERE task_id = $1", uuid.UUID(task["id"])
        )
        return not other.exists() and rows == 0

    await eventually(other_gone, bool, timeout=30)


async def test_other_org_gets_404(
    client: httpx.AsyncClient, alice: User, mallory: User, project: dict[str, Any]
) -> None:
    task = await create_task(client, alice, project["id"])
    a = (await upload(client, alice, task["id"], "x.txt", b"private")).json()
    h = mallory.headers
    for url in (
        f"/api/v1/attachments/{a['id']}",
        f"/api/v1/attachments/{a['id']}/content",
        f"/api/v1/attachments/{a['id']}/thumbnail",
        f"/api/v1/tasks/{task['id']}/attachments",
    ):
        assert (await client.get(url, headers=h)).status_code == 404, url
    assert (await client.delete(f"/api/v1/attachments/{a['id']}", headers=h)).status_code == 404
    assert (await upload(client, mallory, task["id"], "x.txt", b"evil")).status_code == 404
