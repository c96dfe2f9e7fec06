"""OpenTelemetry traces (storage/tracing.py, serve_app/tracing.py), exported over
OTLP/HTTP to a receiver on loopback that decodes the protobuf the way a collector
does.

The API runs in this process (ASGI) with tracing configured for this test only;
its project host is a real `ProjectHost` Ray actor started for the test with
`TASKHIVE_OTLP_ENDPOINT` in its environment. One write must give one trace: the
HTTP span (route, status, request id) → `host.apply` in the host process (its
parent crossed the Ray call in the task name) → `grain.commit`.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import ray
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from ray.actor import ActorHandle

from actors.host import ProjectHost
from actors.router import HostRouter
from cluster.stack import Stack
from serve_app.app import app, signing_keys
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.context import AppContext, install_context, installed_context
from storage import tracing
from storage.db import create_engine
from tests.integration.conftest import User, create_project
from tests.stack_fixtures import JWT_SECRET

pytestmark = pytest.mark.timeout(120)


class Receiver:
    """An OTLP/HTTP traces endpoint: keeps every span it is sent, by name."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                ok = self.path == "/v1/traces"
                if ok:
                    receiver._keep(ExportTraceServiceRequest.FromString(body))
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            for resource in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        self.spans.append(
                            {
                                "name": span.name,
                                "service": service,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                                "attributes": attributes,
                            }
                        )

    def named(self, prefix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.spans if s["name"].startswith(prefix)]

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
async def traced_api(stack: Stack, receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process, tracing on, with its own traced project host."""
    assert not tracing.enabled()
    assert tracing.configure("taskhive-api", endpoint=receiver.url)
    name = f"trace-host-{uuid.uuid4().hex[:8]}"
    host: ActorHandle[ProjectHost] = (
        ray.remote(ProjectHost)  # type: ignore[assignment]  # `.remote()` makes a handle
        .options(
            num_cpus=0,
            max_concurrency=100,
            runtime_env={"env_vars": {tracing.ENV: receiver.url}},
        )
        .remote(name, stack.database_url, stack.redis_url, pool_size=2)
    )
    config = AppConfig(database_url=stack.database_url, redis_url=None, jwt_secret=JWT_SECRET)
    engine = create_engine(stack.database_url, pool_size=2)
    ctx = AppContext(
        config=config,
        engine=engine,
        redis=None,
        router=HostRouter({name: host}),
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
        tracing.shutdown()
        await engine.dispose()
        ray.kill(host)


async def _until(check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "spans did not arrive in time"
        await asyncio.sleep(0.1)


async def test_a_write_is_one_trace_from_http_through_the_host_to_its_commit(
    traced_api: httpx.AsyncClient, client: httpx.AsyncClient, alice: User, receiver: Receiver
) -> None:
    project = await create_project(client, alice)
    r = await traced_api.post(
        "/api/v1/tasks",
        json={"project_id": project["id"], "title": "traced"},
        headers={**alice.headers, "X-Request-ID": "trace-req-1"},
    )
    assert r.status_code == 201, r.text
    tracing.flush()
    await _until(lambda: receiver.named("grain.commit") and receiver.named("HTTP POST"))

    [http] = receiver.named("HTTP POST")
    assert http["name"] == "HTTP POST /api/v1/tasks"
    assert http["service"] == "taskhive-api"
    assert http["attributes"]["http.route"] == "/api/v1/tasks"
    assert http["attributes"]["http.response.status_code"] == 201
    assert http["attributes"]["taskhive.request_id"] == "trace-req-1"
    [apply] = receiver.named("host.apply")
    assert apply["service"] == "taskhive-host"
    assert apply["trace_id"] == http["trace_id"]
    assert apply["parent_id"] == http["span_id"]  # crossed the Ray call
    assert apply["attributes"]["taskhive.command"] == "CreateTask"
    [commit] = receiver.named("grain.commit")
    assert commit["trace_id"] == http["trace_id"]
    assert commit["parent_id"] == apply["span_id"]
    assert commit["attributes"]["taskhive.batch_size"] == 1


async def test_a_callers_traceparent_is_continued(
    traced_api: httpx.AsyncClient, alice: User, receiver: Receiver
) -> None:
    caller_trace = uuid.uuid4().hex
    caller_span = uuid.uuid4().hex[:16]
    r = await traced_api.get(
        "/api/v1/projects",
        headers={**alice.headers, "traceparent": f"00-{caller_trace}-{caller_span}-01"},
    )
    assert r.status_code == 200
    tracing.flush()
    await _until(lambda: receiver.named("HTTP GET"))
    [span] = receiver.named("HTTP GET")
    assert (span["trace_id"], span["parent_id"]) == (caller_trace, caller_span)
    assert span["name"] == "HTTP GET /api/v1/projects"


def test_off_by_default_and_free() -> None:
    """Without an endpoint nothing is configured, and a span is the shared no-op."""
    assert not tracing.configure("taskhive-api", endpoint="")
    assert not tracing.enabled()
    assert tracing.span("x") is tracing.span("y")
    assert tracing.traceparent() == ""
    assert tracing.current_context() is None
    token = tracing.INCOMING_TRACEPARENT.set("00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    try:
        assert tracing.incoming_traceparent() == ""  # off: a caller's context is ignored
    finally:
        tracing.INCOMING_TRACEPARENT.reset(token)
