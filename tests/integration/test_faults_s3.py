"""S3 outages: time limits and the `s3` breaker (storage/blob_s3.py).

The API runs in this process (ASGI) with attachments in an S3 bucket served by
moto's server over HTTP on loopback, its own instance so it can be stopped. The
projects and tasks come from the suite's stack (same database, same hosts).

- S3 stopped: an upload answers 503 with `Retry-After` within the configured
  limits; once the breaker opened, at once; a download link is refused the same
  way. S3 back: uploads and downloads work again without any restart.
- S3 hung (accepts connections, never answers): the read time limit ends the
  call with a 503 instead of a request that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from actors.router import HostConfig, HostRouter, ensure_hosts
from cluster.stack import Stack
from serve_app.app import app, signing_keys
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.context import AppContext, install_context, installed_context
from storage.blob_s3 import S3BlobStore
from storage.blobs import BlobConfig
from storage.breaker import Breaker, BreakerState, DependencyUnavailable, breaker
from storage.db import create_engine
from tests.integration.conftest import User, create_project, create_task, free_port
from tests.integration.test_attachments import upload
from tests.stack_fixtures import JWT_SECRET

pytestmark = pytest.mark.timeout(180)

#: Per attempt: connect 0.5 s + read 1 s; two attempts. An outage costs a caller
#: at most ~5 s (limits plus botocore's backoff), usually far less (refused at once).
BOUND_S = 10.0


class Moto:
    """moto's S3 server on a fixed port, stoppable and restartable (its buckets
    live in this process, so they survive a restart)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        """Stop serving and close the port: new connections are refused."""
        if self._server is not None:
            self._server.stop()
            # `stop` leaves the socket listening (the kernel would still accept).
            self._server._server.server_close()  # type: ignore[union-attr]
            self._server = None


@pytest.fixture
def moto() -> Iterator[Moto]:
    server = Moto()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _config(endpoint: str, bucket: str) -> BlobConfig:
    return BlobConfig(
        local_dir="unused",
        s3_endpoint_url=endpoint,
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_connect_timeout_s=0.5,
        s3_read_timeout_s=1.0,
        s3_max_attempts=2,
    )


def _bucket(endpoint: str) -> str:
    name = f"taskhive-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture
async def s3_api(stack: Stack, moto: Moto) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process, storing attachments in the moto bucket."""
    config = AppConfig(
        database_url=stack.database_url,
        redis_url=None,
        jwt_secret=JWT_SECRET,
        blobs=_config(moto.url, _bucket(moto.url)),
    )
    engine = create_engine(stack.database_url, pool_size=2)
    hosts = HostConfig(stack.settings.hosts, stack.database_url, stack.redis_url)
    ctx = AppContext(
        config=config,
        engine=engine,
        redis=None,
        router=HostRouter(ensure_hosts(hosts), hosts),
        auth=Authenticator(engine, secret=signing_keys(config), ttl_s=0),
    )
    previous = installed_context()
    install_context(ctx)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://taskhive") as client:
            yield client
    finally:
        install_context(previous)
        await engine.dispose()


def _state(b: Breaker) -> BreakerState:
    """The state read afresh: the uploads since the last look changed it, which mypy's
    narrowing of `b.state` after an earlier assert does not know."""
    return b.state


async def _until_created(client: httpx.AsyncClient, user: User, task_id: str) -> httpx.Response:
    """Upload until S3 takes it (the breaker lets a trial through after `reset_s`)."""
    deadline = time.monotonic() + 30
    while True:
        r = await upload(client, user, task_id, "back.txt", b"back again")
        if r.status_code == 201 or time.monotonic() > deadline:
            return r
        assert r.status_code == 503, r.text
        await asyncio.sleep(0.2)


async def test_s3_outage_gives_fast_503_and_recovers(
    s3_api: httpx.AsyncClient, client: httpx.AsyncClient, alice: User, moto: Moto
) -> None:
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"])
    r = await upload(s3_api, alice, task["id"], "before.txt", b"stored in S3")
    assert r.status_code == 201, r.text
    attachment = r.json()
    got = await s3_api.get(f"/api/v1/attachments/{attachment['id']}/content", headers=alice.headers)
    assert got.status_code == 307 and got.headers["location"].startswith(moto.url)

    moto.stop()
    s3 = breaker("s3", moto.url)
    answers: list[tuple[int, float]] = []
    while s3.state is not BreakerState.OPEN and len(answers) < 10:
        started = time.monotonic()
        r = await upload(s3_api, alice, task["id"], "during.txt", b"not now")
        answers.append((r.status_code, time.monotonic() - started))
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"].startswith("application/problem+json")
    assert s3.state is BreakerState.OPEN, answers
    assert all(took < BOUND_S for _, took in answers), answers
    # Open: refused without touching the network, downloads included.
    started = time.monotonic()
    r = await upload(s3_api, alice, task["id"], "during.txt", b"not now")
    assert r.status_code == 503 and time.monotonic() - started < BOUND_S
    got = await s3_api.get(f"/api/v1/attachments/{attachment['id']}/content", headers=alice.headers)
    assert got.status_code == 503 and "retry-after" in got.headers

    moto.start()
    r = await _until_created(s3_api, alice, task["id"])
    assert r.status_code == 201, r.text
    assert _state(s3) is BreakerState.CLOSED
    got = await s3_api.get(f"/api/v1/attachments/{r.json()['id']}/content", headers=alice.headers)
    assert got.status_code == 307
    async with httpx.AsyncClient() as outside:
        assert (await outside.get(got.headers["location"])).content == b"back again"


@contextlib.contextmanager
def _silent_server() -> Iterator[str]:
    """A TCP server that accepts connections (the kernel does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def test_a_hung_s3_is_cut_off_by_the_read_limit() -> None:
    with _silent_server() as endpoint:
        store = S3BlobStore(_config(endpoint, "hung"))
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable) as caught:
            await store.put("attachments/x", b"data", "text/plain")
        took = time.monotonic() - started
        # Two attempts of at most connect + read each, plus backoff: bounded.
        assert took < BOUND_S, took
        assert caught.value.retry_after >= 1
        assert "s3" in caught.value.detail
