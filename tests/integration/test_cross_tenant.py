"""Tenant isolation, generated from the OpenAPI document: for every operation with a
path parameter, the owner of organisation B gets 404 on organisation A's resources,
and no list B can read contains any of A's ids.

A new route is covered as soon as it is in the document. Its path parameters must
name a resource `MAKERS` knows how to create in organisation A, or the route must
be in `EXEMPT` with a reason; otherwise this test fails and says which.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.integration.conftest import User, create_project, create_task, member_of
from tests.integration.openapi_examples import NoExample, example
from tests.integration.wsclient import WsClient

#: (method, path) → why the route is not checked for cross-tenant 404.
EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/auth/oidc/{provider}/login"): (
        "identity providers are configured for the deployment, not owned by an organisation"
    ),
    ("GET", "/api/v1/auth/oidc/{provider}/callback"): (
        "identity providers are configured for the deployment, not owned by an organisation"
    ),
}

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Victim:
    """Organisation A: its owner, a member, and ids of its resources by parameter name."""

    alice: User
    bob: User
    ids: dict[str, str] = field(default_factory=dict)
    #: Parameter → why no resource could be made for it.
    failed: dict[str, str] = field(default_factory=dict)


Maker = Callable[[httpx.AsyncClient, Victim], Awaitable[None]]


async def _ok(r: httpx.Response, *codes: int) -> dict[str, Any]:
    assert r.status_code in (codes or (200, 201)), r.text
    body: dict[str, Any] = r.json() if r.content else {}
    return body


async def _core(c: httpx.AsyncClient, v: Victim) -> None:
    h = v.alice.headers
    project = await create_project(c, v.alice)
    task = await create_task(c, v.alice, project["id"])
    v.ids |= {"project_id": project["id"], "ref": task["id"], "user_id": v.bob.id}
    sprint = await _ok(
        await c.post(f"/api/v1/projects/{project['id']}/sprints", json={"name": "S"}, headers=h)
    )
    comment = await _ok(
        await c.post(f"/api/v1/tasks/{task['id']}/comments", json={"body": "hi"}, headers=h)
    )
    await _ok(
        await c.post(f"/api/v1/comments/{comment['id']}/reactions", json={"emoji": "👍"}, headers=h)
    )
    boundary = "xTenantBoundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nsecret\r\n--{boundary}--\r\n"
    ).encode()
    headers = {**h, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    attachment = await _ok(
        await c.post(f"/api/v1/tasks/{task['id']}/attachments", content=body, headers=headers)
    )
    team = await _ok(await c.post("/api/v1/teams", json={"name": "Core"}, headers=h))
    await _ok(await c.put(f"/api/v1/teams/{team['id']}/members/{v.bob.id}", headers=h), 204)
    await _ok(
        await c.post(
            f"/api/v1/projects/{project['id']}/members",
            json={"user_id": v.bob.id, "role": "viewer"},
            headers=h,
        ),
        201,
    )
    invitation = await _ok(
        await c.post("/api/v1/invitations", json={"email": "carol@example.com"}, headers=h)
    )
    token = await _ok(
        await c.post("/api/v1/users/me/tokens", json={"name": "ci", "scopes": ["read"]}, headers=h)
    )
    v.ids |= {
        "sprint_id": sprint["id"],
        "comment_id": comment["id"],
        "emoji": "👍",
        "attachment_id": attachment["id"],
        "team_id": team["id"],
        "invitation_id": invitation["id"],
        "token_id": token["id"],
    }


async def _notification(c: httpx.AsyncClient, v: Victim) -> None:
    # Bob assigns Alice a task; the notifier puts it in her inbox shortly after.
    await create_task(c, v.bob, v.ids["project_id"], assignee_id=v.alice.id)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = (await c.get("/api/v1/notifications", headers=v.alice.headers)).json()["items"]
        if items:
            v.ids["notification_id"] = items[0]["id"]
            return
        await asyncio.sleep(0.3)
    pytest.fail("no notification reached the inbox within 20 s")


async def _webhook(c: httpx.AsyncClient, v: Victim) -> None:
    h = v.alice.headers
    hook = await _ok(
        await c.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}, headers=h
        )
    )
    v.ids["hook_id"] = hook["id"]
    await _ok(await c.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=h), 202)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = await c.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=h)
        items = r.json().get("items", [])
        if items:
            v.ids["delivery_id"] = items[0]["id"]
            return
        await asyncio.sleep(0.3)
    pytest.fail("the ping made no delivery within 20 s")


async def _import(c: httpx.AsyncClient, v: Victim) -> None:
    r = await c.post(
        f"/api/v1/projects/{v.ids['project_id']}/imports",
        params={"source": "csv", "mapping": '{"title": "title"}'},
        content=b"title\nImported task\n",
        headers={**v.alice.headers, "Content-Type": "text/csv"},
    )
    v.ids["import_id"] = (await _ok(r, 202))["id"]


#: Path parameter → how to create such a resource in organisation A. `_core` makes
#: several at once; the others run only when some route needs them. A parameter
#: without a maker is created by POSTing a schema-generated body to the route's
#: collection (`/things` for `/things/{thing_id}`), when there is one.
MAKERS: dict[str, Maker] = {
    **{
        name: _core
        for name in (
            "project_id",
            "ref",
            "user_id",
            "sprint_id",
            "comment_id",
            "emoji",
            "attachment_id",
            "team_id",
            "invitation_id",
            "token_id",
        )
    },
    "notification_id": _notification,
    "hook_id": _webhook,
    "delivery_id": _webhook,
    "import_id": _import,
}


#: Collection → the body that creates one of its resources, where the schema alone
#: does not say enough (a generated body passes validation but not domain rules).
BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/projects/{project_id}/rules": {
        "name": "Label new tasks",
        "trigger": {"type": "task_created"},
        "actions": [{"type": "add_label", "label": "triage"}],
    },
}


async def _create_from_collection(
    c: httpx.AsyncClient, v: Victim, spec: dict[str, Any], path: str, param: str
) -> None:
    """Create the resource `param` names by POSTing to its collection route."""
    collection = path[: path.index("{" + param + "}")].rstrip("/")
    post = spec["paths"].get(collection, {}).get("post")
    needs = re.findall(r"{(\w+)}", collection)
    if post is None or any(n not in v.ids for n in needs):
        return
    kwargs = _request(spec, post)
    if collection in BODIES:
        kwargs["json"] = BODIES[collection]
    r = await c.post(collection.format(**v.ids), headers=v.alice.headers, **kwargs)
    if r.status_code in (200, 201):
        v.ids[param] = r.json()["id"]
    else:
        v.failed[param] = f"POST {collection} as organisation A: {r.status_code} {r.text[:200]}"


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in _METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _path_params(op: dict[str, Any]) -> list[str]:
    return [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]


def _request(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """Required query parameters and a JSON body that pass validation."""
    kwargs: dict[str, Any] = {}
    query = {
        p["name"]: example(spec, p.get("schema", {}))
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    if query:
        kwargs["params"] = query
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = example(spec, content["application/json"]["schema"])
    return kwargs


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


@pytest.fixture
async def victim(client: httpx.AsyncClient, alice: User, db: Any, spec: dict[str, Any]) -> Victim:
    victim = Victim(alice, await member_of(client, db, alice, "Bob"))
    needed = {name for _, _, op in _operations(spec) for name in _path_params(op)}
    done: set[Maker] = set()
    for name in sorted(needed & set(MAKERS), key=lambda n: MAKERS[n] is not _core):
        maker = MAKERS[name]
        if maker not in done:
            await maker(client, victim)
            done.add(maker)
    for _, path, op in _operations(spec):
        for name in _path_params(op):
            if name not in victim.ids:
                await _create_from_collection(client, victim, spec, path, name)
    return victim


async def test_every_route_with_a_path_parameter_is_404_for_another_org(
    client: httpx.AsyncClient, spec: dict[str, Any], victim: Victim, mallory: User
) -> None:
    failures: list[str] = []
    checked = 0
    for method, path, op in _operations(spec):
        params = _path_params(op)
        if not params or (method, path) in EXEMPT:
            continue
        unknown = [p for p in params if p not in victim.ids]
        if unknown:
            failures.append(
                f"{method} {path}: no organisation-A resource for {unknown}; "
                "add a maker to MAKERS, a body to BODIES or an EXEMPT entry with the reason"
                + "".join(f" ({victim.failed[u]})" for u in unknown if u in victim.failed)
            )
            continue
        try:
            kwargs = _request(spec, op)
        except NoExample as exc:
            failures.append(f"{method} {path}: {exc}")
            continue
        url = path.format(**victim.ids)
        r = await client.request(method, url, headers=mallory.headers, **kwargs)
        checked += 1
        if r.status_code != 404:
            failures.append(f"{method} {url}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert checked >= 40
    await _assert_intact(client, victim)


async def _assert_intact(client: httpx.AsyncClient, victim: Victim) -> None:
    """Organisation A's resources are all still there, unchanged by B's requests."""
    h = victim.alice.headers
    ids = victim.ids
    for url in (
        f"/api/v1/projects/{ids['project_id']}",
        f"/api/v1/tasks/{ids['ref']}",
        f"/api/v1/comments/{ids['comment_id']}",
        f"/api/v1/attachments/{ids['attachment_id']}",
        f"/api/v1/teams/{ids['team_id']}",
        f"/api/v1/members/{ids['user_id']}",
    ):
        assert (await client.get(url, headers=h)).status_code == 200, url
    team = (await client.get(f"/api/v1/teams/{ids['team_id']}", headers=h)).json()
    assert team["name"] == "Core" and team["member_ids"] == [victim.bob.id]
    members = (await client.get(f"/api/v1/projects/{ids['project_id']}/members", headers=h)).json()
    assert [u["role"] for u in members["users"]] == ["viewer"]


async def test_no_list_shows_another_orgs_ids(
    client: httpx.AsyncClient, spec: dict[str, Any], victim: Victim, mallory: User
) -> None:
    secrets = {v for k, v in victim.ids.items() if k != "emoji"} | {victim.alice.id}
    for method, path, op in _operations(spec):
        if method != "GET" or _path_params(op):
            continue
        r = await client.get(path, headers=mallory.headers, **_request(spec, op))
        assert r.status_code < 500, f"{path}: {r.status_code}"
        leaked = [s for s in secrets if s in r.text]
        assert not leaked, f"GET {path} shows organisation A's {leaked}"


async def test_exemptions_name_real_routes_and_say_why(spec: dict[str, Any]) -> None:
    for (method, path), reason in EXEMPT.items():
        assert method.lower() in spec["paths"].get(path, {}), f"stale exemption {method} {path}"
        assert len(reason) > 10, f"say why {method} {path} is exempt"


async def test_a_websocket_cannot_subscribe_to_another_orgs_project(
    base_url: str, client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    project = await create_project(client, alice)
    ws = await WsClient.open(base_url, mallory.token)
    try:
        answer = await ws.subscribe(project["id"])
        assert answer["type"] == "error" and answer["code"] == "not_found"
        missing = await ws.subscribe(str(uuid.uuid4()))
        assert missing["detail"] == answer["detail"]  # the same answer: no existence leak
    finally:
        await ws.close()
