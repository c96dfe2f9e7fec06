"""The direct lane answers its routes exactly as FastAPI does.

A query parameter the lane does not bind sends a request on to FastAPI (which
ignores it), so each request is made twice, once each way, and the answers are
compared: status, body, and the headers a client relies on."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, create_project, create_task, member_of, signup
from tests.integration.notify_helpers import eventually, inbox
from tests.integration.search_helpers import keys, wait_for
from tests.integration.test_metrics import scrape, total

#: Unknown to every route, ignored by FastAPI, and the lane does not bind it.
VIA_FASTAPI = {"via": "fastapi"}
_HEADERS = ("content-type", "etag", "www-authenticate", "ratelimit-limit")


def _answer(r: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {h: r.headers[h] for h in _HEADERS if h in r.headers}
    body = r.json() if r.content else None
    return r.status_code, body, headers


async def _both(
    client: httpx.AsyncClient, method: str, path: str, **kw: Any
) -> tuple[tuple[int, Any, dict[str, str]], tuple[int, Any, dict[str, str]]]:
    params = kw.pop("params", {})
    lane = await client.request(method, path, params=params, **kw)
    fastapi = await client.request(method, path, params={**params, **VIA_FASTAPI}, **kw)
    return _answer(lane), _answer(fastapi)


async def _same(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> int:
    lane, fastapi = await _both(client, method, path, **kw)
    assert lane == fastapi, (method, path, kw)
    return lane[0]


async def test_reads_answer_as_fastapi_does(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    tasks = [await create_task(client, alice, pid, title=f"lane {n}") for n in range(3)]
    key = tasks[0]["key"]
    h = alice.headers
    cases: list[tuple[str, dict[str, Any], int]] = [
        (f"/api/v1/tasks/{tasks[0]['id']}", {"headers": h}, 200),
        (f"/api/v1/tasks/{key}", {"headers": h}, 200),
        (f"/api/v1/tasks/{uuid.uuid4()}", {"headers": h}, 404),
        ("/api/v1/tasks/NOPE-1", {"headers": h}, 404),
        (f"/api/v1/tasks/{key}", {}, 401),  # no token
        (f"/api/v1/tasks/{key}", {"headers": {"Authorization": "Bearer junk"}}, 401),
        (f"/api/v1/tasks/{key}", {"headers": {"Authorization": "Basic abc"}}, 401),
        (f"/api/v1/tasks/{key}", {"headers": mallory.headers}, 404),  # another tenant
        ("/api/v1/tasks", {"headers": h, "params": {"project_id": pid}}, 200),
        ("/api/v1/tasks", {"headers": h, "params": {"project_id": pid, "status": "open"}}, 200),
        ("/api/v1/tasks", {"headers": h, "params": {"project_id": pid, "cursor": "%%"}}, 422),
        ("/api/v1/tasks", {"headers": mallory.headers, "params": {"project_id": pid}}, 404),
        (f"/api/v1/projects/{pid}/board", {"headers": h}, 200),
        (f"/api/v1/projects/{pid}/board", {"headers": h, "params": {"status": "todo"}}, 200),
        (f"/api/v1/projects/{pid}/board", {"headers": h, "params": {"limit": "1"}}, 200),
        (f"/api/v1/projects/{uuid.uuid4()}/board", {"headers": h}, 404),
        (f"/api/v1/projects/{pid}/board", {"headers": mallory.headers}, 404),
        ("/api/v1/notifications", {"headers": h}, 200),
        ("/api/v1/notifications", {"headers": h, "params": {"unread": "true"}}, 200),
        ("/api/v1/notifications", {"headers": h, "params": {"cursor": "bad"}}, 422),
        ("/api/v1/notifications", {}, 401),
    ]
    for path, kw, status in cases:
        assert await _same(client, "GET", path, **kw) == status, path

    # A page and the next one, through the lane all the way.
    first = await client.get("/api/v1/tasks", params={"project_id": pid, "limit": 2}, headers=h)
    cursor = first.json()["next_cursor"]
    assert [t["id"] for t in first.json()["items"]] == [t["id"] for t in tasks[:2]]
    rest = await _both(
        client, "GET", "/api/v1/tasks", params={"project_id": pid, "cursor": cursor}, headers=h
    )
    assert rest[0] == rest[1]
    assert [t["id"] for t in rest[0][1]["items"]] == [tasks[2]["id"]]


async def test_the_inbox_answers_as_fastapi_does(
    client: httpx.AsyncClient, db: Any, alice: User
) -> None:
    bob = await member_of(client, db, alice, "Bob")
    project = await create_project(client, alice)
    for n in range(3):
        await create_task(client, bob, project["id"], title=f"for alice {n}", assignee_id=alice.id)
    page = await eventually(lambda: inbox(client, alice), lambda b: len(b["items"]) == 3)
    read = await client.post(
        f"/api/v1/notifications/{page['items'][0]['id']}/read", headers=alice.headers
    )
    assert read.status_code in (200, 204), read.text
    for params in ({}, {"unread": "true"}, {"unread": "false", "limit": "1"}):
        lane, fastapi = await _both(
            client, "GET", "/api/v1/notifications", params=params, headers=alice.headers
        )
        assert lane == fastapi
        assert lane[1]["unread_count"] == 2
    assert len((await inbox(client, alice, unread="true"))["items"]) == 2
    first = await inbox(client, alice, limit=1)
    lane, fastapi = await _both(
        client,
        "GET",
        "/api/v1/notifications",
        params={"cursor": first["next_cursor"]},
        headers=alice.headers,
    )
    assert lane == fastapi and len(lane[1]["items"]) == 2


async def test_writes_answer_as_fastapi_does(client: httpx.AsyncClient, alice: User) -> None:
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"], title="lane write")
    path = f"/api/v1/tasks/{task['id']}"
    h = alice.headers

    # Errors: the same problem from both, and nothing written.
    stale = {**h, "If-Match": '"1000"'}
    assert await _same(client, "PATCH", path, json={"title": "x"}, headers=stale) == 412
    assert await _same(client, "PATCH", path, json={"title": None}, headers=h) == 422
    assert await _same(client, "PATCH", path, json={"status": "nowhere"}, headers=h) == 422
    assert await _same(client, "PUT", path, json={"title": ""}, headers=h) == 422  # model
    assert await _same(client, "PATCH", path, content=b"{", headers=h) == 422  # not JSON
    assert await _same(client, "PATCH", path, json={"title": "x"}) == 401
    created = await client.post(
        "/api/v1/users/me/tokens", json={"name": "read only", "scopes": ["read"]}, headers=h
    )
    assert created.status_code == 201, created.text
    read_only = {"Authorization": f"Bearer {created.json()['token']}"}
    assert await _same(client, "PATCH", path, json={"title": "x"}, headers=read_only) == 403
    now = await client.get(path, headers=h)
    assert now.json()["version"] == task["version"]

    # Successes: each way applies its change and answers the task with its ETag.
    version = task["version"]
    for params in ({}, VIA_FASTAPI):
        for method in ("PATCH", "PUT"):
            r = await client.request(
                method,
                path,
                params=params,
                json={"title": f"{method} {params}", "priority": "high"},
                headers={**h, "If-Match": f'"{version}"'},
            )
            assert r.status_code == 200, r.text
            assert r.json()["version"] == version + 1
            assert r.headers["etag"] == f'"{version + 1}"'
            assert r.json()["title"] == f"{method} {params}"
            version += 1
    assert (await client.get(path, headers=h)).json()["version"] == version


async def test_create_move_and_comment_answer_as_fastapi_does(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    h = alice.headers
    task = await create_task(client, alice, pid, title="to move")
    ref = f"/api/v1/tasks/{task['id']}"
    errors: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", "/api/v1/tasks", {"json": {"project_id": pid}, "headers": h}, 422),  # no title
        ("POST", "/api/v1/tasks", {"json": {"project_id": pid, "title": "x"}}, 401),
        # No body and no content type: the lane reads the (empty) body, falls
        # through, and hands FastAPI the body again instead of leaving it waiting.
        ("POST", "/api/v1/tasks", {}, 401),
        ("POST", "/api/v1/tasks", {"headers": h}, 422),
        ("PATCH", ref, {"headers": h}, 422),
        ("POST", f"{ref}/comments", {"headers": h}, 422),
        (
            "POST",
            "/api/v1/tasks",
            {"json": {"project_id": str(uuid.uuid4()), "title": "x"}, "headers": h},
            404,
        ),
        (
            "POST",
            "/api/v1/tasks",
            {"json": {"project_id": pid, "title": "x"}, "headers": mallory.headers},
            404,
        ),
        ("POST", f"{ref}/move", {"json": {"status": "nowhere"}, "headers": h}, 422),
        ("POST", f"{ref}/move", {"json": {"before_id": "x"}, "headers": h}, 422),
        ("POST", f"{ref}/move", {"json": {"status": "done"}, "headers": mallory.headers}, 404),
        ("POST", f"{ref}/comments", {"json": {"body": ""}, "headers": h}, 422),
        ("POST", f"{ref}/comments", {"json": {"body": "x" * (64 * 1024 + 1)}, "headers": h}, 413),
        ("POST", f"{ref}/comments", {"json": {}, "headers": h}, 422),
        ("POST", "/api/v1/tasks/NOPE-1/comments", {"json": {"body": "hi"}, "headers": h}, 404),
    ]
    for method, path, kw, status in errors:
        assert await _same(client, method, path, **kw) == status, (path, kw)
    assert (await client.get(ref, headers=h)).json()["version"] == task["version"]
    listed = await client.get("/api/v1/tasks", params={"project_id": pid}, headers=h)
    assert [t["id"] for t in listed.json()["items"]] == [task["id"]]  # nothing created

    for params in ({}, VIA_FASTAPI):
        created = await client.post(
            "/api/v1/tasks",
            params=params,
            json={"project_id": pid, "title": f"made {params}"},
            headers={**h, "Idempotency-Key": f"create {params}"},
        )
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"/api/v1/tasks/{created.json()['id']}"
        again = await client.post(
            "/api/v1/tasks",
            params=params,
            json={"project_id": pid, "title": f"made {params}"},
            headers={**h, "Idempotency-Key": f"create {params}"},
        )
        assert again.json()["id"] == created.json()["id"]  # the retry's first answer
        moved = await client.post(f"{ref}/move", params=params, json={"status": "done"}, headers=h)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == "done"
        assert moved.headers["etag"] == f'"{moved.json()["version"]}"'
        said = await client.post(
            f"{ref}/comments", params=params, json={"body": f"said {params}"}, headers=h
        )
        assert said.status_code == 201, said.text
        assert said.headers["location"] == f"/api/v1/comments/{said.json()['id']}"
    comments = await client.get(f"{ref}/comments", headers=h)
    assert [c["body"] for c in comments.json()["items"]] == ["said {}", "said {'via': 'fastapi'}"]


async def test_search_answers_as_fastapi_does(client: httpx.AsyncClient, alice: User) -> None:
    project = await create_project(client, alice)
    for n in range(3):
        await create_task(client, alice, project["id"], title=f"laneword {n}")
    await wait_for(client, alice, lambda b: len(keys(b)) == 3, q="laneword")
    h = alice.headers
    for params in (
        {"q": "laneword"},
        {"q": "laneword", "limit": "2"},
        {"filters": "status:open", "limit": "1"},
        {"q": "laneword", "cursor": "junk"},  # 422
        {"filters": "nosuchfield:1"},  # 422
    ):
        lane, fastapi = await _both(client, "GET", "/api/v1/search", params=params, headers=h)
        assert lane == fastapi, params
    first = await client.get("/api/v1/search", params={"q": "laneword", "limit": 2}, headers=h)
    cursor = first.json()["next_cursor"]
    lane, fastapi = await _both(
        client, "GET", "/api/v1/search", params={"q": "laneword", "cursor": cursor}, headers=h
    )
    assert lane == fastapi and len(lane[1]["items"]) == 1


async def test_the_lane_takes_its_routes(client: httpx.AsyncClient) -> None:
    """The lane, not FastAPI, answered: its counter moves for each of its routes."""
    user = await signup(client, org_name="Lane")
    project = await create_project(client, user)
    task = await create_task(client, user, project["id"])
    before = await scrape(client)
    h = user.headers
    await client.get(f"/api/v1/tasks/{task['id']}", headers=h)
    await client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "y"}, headers=h)
    await client.get("/api/v1/tasks", params={"project_id": project["id"]}, headers=h)
    await client.get(f"/api/v1/projects/{project['id']}/board", headers=h)
    await client.get("/api/v1/notifications", headers=h)
    await client.get("/api/v1/search", params={"q": "x"}, headers=h)
    await client.post("/api/v1/tasks", json={"project_id": project["id"], "title": "z"}, headers=h)
    await client.post(f"/api/v1/tasks/{task['id']}/move", json={"status": "done"}, headers=h)
    await client.post(f"/api/v1/tasks/{task['id']}/comments", json={"body": "b"}, headers=h)
    routes = [
        ("GET", "/api/v1/search"),
        ("POST", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks/{ref}/move"),
        ("POST", "/api/v1/tasks/{ref}/comments"),
        ("GET", "/api/v1/tasks/{ref}"),
        ("PATCH", "/api/v1/tasks/{ref}"),
        ("GET", "/api/v1/tasks"),
        ("GET", "/api/v1/projects/{project_id}/board"),
        ("GET", "/api/v1/notifications"),
    ]
    name = "taskhive_direct_lane_requests_total"
    deadline = time.monotonic() + 20  # replicas publish their counts every few seconds
    while True:
        after = await scrape(client)
        moved = [
            total(after, name, method=m, route=r) > total(before, name, method=m, route=r)
            for m, r in routes
        ]
        if all(moved) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert moved == [True] * len(routes)
