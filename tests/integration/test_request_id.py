"""Request ids: accepted or made, returned, and carried into project-host calls."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import httpx
import orjson
import ray

from actors.host import RunsAsCaller
from actors.router import HostRouter
from serve_app.logging import JsonFormatter, current_request_id
from serve_app.request_id import accepted_id
from storage.telemetry import REQUEST_ID
from tests.integration.conftest import User


async def test_a_request_without_an_id_gets_a_new_one(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f-]{32,36}", first)  # one header, not a list
    assert first != second


async def test_a_callers_id_is_returned_on_success_and_on_problems(
    client: httpx.AsyncClient, alice: User
) -> None:
    rid = "lb-7f3a:req.42_x"
    ok = await client.get("/api/v1/projects", headers={**alice.headers, "X-Request-ID": rid})
    assert ok.status_code == 200 and ok.headers["x-request-id"] == rid
    missing = await client.get("/api/v1/no/such/route", headers={"X-Request-ID": rid})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == rid
    unauth = await client.get("/api/v1/projects", headers={"X-Request-ID": rid})
    assert unauth.status_code == 401 and unauth.headers["x-request-id"] == rid
    invalid = await client.post(
        "/api/v1/projects", json={"name": ""}, headers={**alice.headers, "X-Request-ID": rid}
    )
    assert invalid.status_code == 422 and invalid.headers["x-request-id"] == rid


async def test_an_odd_id_is_never_refused(client: httpx.AsyncClient) -> None:
    for odd in ("x" * 300, "has spaces", "<script>"):
        r = await client.get("/healthz", headers={"X-Request-ID": odd})
        assert r.status_code == 200
        assert "," not in r.headers["x-request-id"]


def test_outside_serve_an_unacceptable_id_is_replaced() -> None:
    def scope(value: bytes) -> dict[str, Any]:
        return {"headers": [(b"x-request-id", value)]}

    assert accepted_id(scope(b"lb-1:a.b_c")) == "lb-1:a.b_c"
    for bad in (b"x" * 129, b"has spaces", b"new\nline", b"<script>", b""):
        assert re.fullmatch(r"[0-9a-f]{32}", accepted_id(scope(bad))), bad
    assert re.fullmatch(r"[0-9a-f]{32}", accepted_id({"headers": []}))


@ray.remote
class _EchoHost(RunsAsCaller):
    """Stands in for a project host: answers with the request id it sees."""

    async def whoami(self, _arg: Any) -> str:
        return current_request_id()


async def test_the_request_id_reaches_the_host_call_and_its_logs(stack: Any) -> None:
    host = _EchoHost.options(max_concurrency=10).remote()  # type: ignore[attr-defined]
    router = HostRouter({"h": host})
    token = REQUEST_ID.set("req-abc123")
    try:
        seen = await router.call(uuid.uuid4(), "whoami", None)
    finally:
        REQUEST_ID.reset(token)
    assert seen == "req-abc123"
    assert await router.call(uuid.uuid4(), "whoami", None) == ""
    ray.kill(host)


def test_log_lines_are_json_with_the_request_id_and_extras() -> None:
    formatter = JsonFormatter("api")
    record = logging.makeLogRecord(
        {"name": "taskhive.test", "levelname": "WARNING", "msg": "slow %s", "args": ("commit",)}
    )
    record.project_id = "p-1"
    token = REQUEST_ID.set("rid-1")
    try:
        line = orjson.loads(formatter.format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["msg"] == "slow commit"
    assert line["level"] == "warning"
    assert line["request_id"] == "rid-1"
    assert line["project_id"] == "p-1"
    assert line["process"] == "api"
    assert line["ts"].endswith("+00:00")


async def test_events_and_their_audit_rows_carry_the_request_id(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    r = await client.post("/api/v1/projects", json={"name": "Traced"}, headers=alice.headers)
    project_id = r.json()["id"]
    rid = "x" * 100 + ".event"  # as long as the API accepts
    r = await client.post(
        "/api/v1/tasks",
        json={"project_id": project_id, "title": "Traced task"},
        headers={**alice.headers, "X-Request-ID": rid},
    )
    assert r.status_code == 201 and r.headers["x-request-id"] == rid
    renamed = f"rename-{uuid.uuid4().hex[:8]}"
    r = await client.patch(
        f"/api/v1/projects/{project_id}",
        json={"name": "Traced again"},
        headers={**alice.headers, "X-Request-ID": renamed},
    )
    assert r.status_code == 200, r.text
    rows = await db.fetch(
        "SELECT type, request_id FROM events WHERE project_id = $1"
        " AND type IN ('task.created', 'project.updated') ORDER BY version",
        uuid.UUID(project_id),
    )
    assert [(x["type"], x["request_id"]) for x in rows] == [
        ("task.created", rid),
        ("project.updated", renamed),
    ]
    audited = await db.fetchval(
        "SELECT request_id FROM audit_log WHERE action = 'project.updated' AND target_id = $1",
        project_id,
    )
    assert audited == renamed
