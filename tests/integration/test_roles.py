"""The role matrix, derived from `domain.permissions`: for every role and every
action, the API does what the matrix says (allowed → success, visible but not
allowed → 403, not visible → 404)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from domain.permissions import (
    ORG_MATRIX,
    PROJECT_MATRIX,
    Action,
    OrgAction,
    OrgRole,
    ProjectRole,
)
from tests.integration.conftest import User, create_project, create_task
from tests.integration.identity_helpers import with_role
from tests.integration.wsclient import WsClient


@dataclass
class Fixture:
    """A project of the owner's, with a task and the owner's comment on it."""

    owner: User
    project: dict[str, Any]
    task: dict[str, Any]
    target: User  # someone to grant a project role to


Probe = Callable[[httpx.AsyncClient, User, Fixture], Awaitable[httpx.Response]]


async def _comment(client: httpx.AsyncClient, owner: User, task_id: str) -> str:
    r = await client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": "owner says"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _read(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    return await c.get(f"/api/v1/projects/{f.project['id']}/board", headers=u.headers)


async def _write_tasks(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    body = {"project_id": f.project["id"], "title": "probe"}
    return await c.post("/api/v1/tasks", json=body, headers=u.headers)


async def _comment_probe(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    return await c.post(
        f"/api/v1/tasks/{f.task['id']}/comments", json={"body": "probe"}, headers=u.headers
    )


async def _plan(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    url = f"/api/v1/projects/{f.project['id']}/sprints"
    return await c.post(url, json={"name": "Sprint"}, headers=u.headers)


async def _moderate(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    comment_id = await _comment(c, f.owner, f.task["id"])
    return await c.delete(f"/api/v1/comments/{comment_id}", headers=u.headers)


async def _workflow(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    url = f"/api/v1/projects/{f.project['id']}/labels"
    return await c.put(url, json={"labels": [{"name": "bug"}]}, headers=u.headers)


async def _settings(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    url = f"/api/v1/projects/{f.project['id']}"
    return await c.patch(url, json={"description": "changed"}, headers=u.headers)


async def _members(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    url = f"/api/v1/projects/{f.project['id']}/members"
    r = await c.post(url, json={"user_id": f.target.id, "role": "viewer"}, headers=u.headers)
    if r.status_code == 201:  # undo, so the next probe starts from the same state
        undo = await c.delete(f"{url}/{f.target.id}", headers=f.owner.headers)
        assert undo.status_code == 204, undo.text
    return r


async def _delete(c: httpx.AsyncClient, u: User, f: Fixture) -> httpx.Response:
    return await c.delete(f"/api/v1/projects/{f.project['id']}", headers=u.headers)


#: One request per action of the matrix; deleting the project goes last.
PROBES: dict[Action, tuple[Probe, int]] = {
    Action.READ: (_read, 200),
    Action.WRITE_TASKS: (_write_tasks, 201),
    Action.COMMENT: (_comment_probe, 201),
    Action.PLAN_SPRINTS: (_plan, 201),
    Action.MODERATE: (_moderate, 204),
    Action.MANAGE_WORKFLOW: (_workflow, 200),
    Action.MANAGE_SETTINGS: (_settings, 200),
    Action.MANAGE_MEMBERS: (_members, 201),
    Action.DELETE_PROJECT: (_delete, 204),
}


def test_every_action_has_a_probe() -> None:
    assert set(PROBES) == set(PROJECT_MATRIX)
    assert list(PROBES)[-1] is Action.DELETE_PROJECT


async def _fixture(client: httpx.AsyncClient, owner: User, target: User, **body: Any) -> Fixture:
    project = await create_project(client, owner, **body)
    task = await create_task(client, owner, project["id"])
    return Fixture(owner, project, task, target)


async def _run_probes(
    client: httpx.AsyncClient, user: User, fixture: Fixture, role: ProjectRole | None
) -> None:
    for action, (probe, ok) in PROBES.items():
        r = await probe(client, user, fixture)
        if role is None:
            expected = 404
        elif role in PROJECT_MATRIX[action]:
            expected = ok
        else:
            expected = 403
        assert r.status_code == expected, f"{role} {action.name}: {r.status_code} {r.text}"
        if expected in (403, 404):
            assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", [*ProjectRole, None], ids=lambda r: str(r))
async def test_direct_project_roles_follow_the_matrix(
    client: httpx.AsyncClient, alice: User, db: Any, role: ProjectRole | None
) -> None:
    # A guest has no implicit role, so what it may do is exactly the granted role.
    guest = await with_role(client, db, alice, "guest")
    target = await with_role(client, db, alice, "guest")
    fixture = await _fixture(client, alice, target)
    if role is not None:
        r = await client.post(
            f"/api/v1/projects/{fixture.project['id']}/members",
            json={"user_id": guest.id, "role": role.value},
            headers=alice.headers,
        )
        assert r.status_code == 201, r.text
    await _run_probes(client, guest, fixture, role)


async def test_members_are_implicit_members_of_org_projects_only(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await with_role(client, db, alice, "member")
    target = await with_role(client, db, alice, "guest")
    await _run_probes(client, bob, await _fixture(client, alice, target), ProjectRole.MEMBER)
    private = await _fixture(client, alice, target, visibility="private")
    await _run_probes(client, bob, private, None)


async def test_a_team_grant_gives_its_role_to_the_team(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    guest = await with_role(client, db, alice, "guest")
    target = await with_role(client, db, alice, "guest")
    r = await client.post("/api/v1/teams", json={"name": "Reviewers"}, headers=alice.headers)
    team_id = r.json()["id"]
    r = await client.put(f"/api/v1/teams/{team_id}/members/{guest.id}", headers=alice.headers)
    assert r.status_code == 204, r.text
    fixture = await _fixture(client, alice, target, team_ids=[team_id], visibility="private")
    r = await client.put(
        f"/api/v1/projects/{fixture.project['id']}/teams/{team_id}",
        json={"role": "viewer"},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    await _run_probes(client, guest, fixture, ProjectRole.VIEWER)


# -- the organisation matrix -----------------------------------------------------------


async def _see_projects(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    project = await create_project(c, owner)
    r = await c.get("/api/v1/projects", headers=u.headers)
    assert r.status_code == 200
    seen = project["id"] in {p["id"] for p in r.json()["items"]}
    return httpx.Response(200 if seen else 403)


async def _create_project(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    return await c.post("/api/v1/projects", json={"name": "Probe"}, headers=u.headers)


async def _directory(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    return await c.get("/api/v1/members", headers=u.headers)


async def _teams(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    name = f"team-{uuid.uuid4().hex[:8]}"
    return await c.post("/api/v1/teams", json={"name": name}, headers=u.headers)


async def _invite(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    return await c.post("/api/v1/invitations", json={"email": email}, headers=u.headers)


async def _owners(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    members = (await c.get("/api/v1/members", headers=owner.headers)).json()["items"]
    target = next(m for m in members if m["role"] == "member" and m["user_id"] != u.id)
    return await c.patch(
        f"/api/v1/members/{target['user_id']}", json={"role": "owner"}, headers=u.headers
    )


async def _audit(c: httpx.AsyncClient, u: User, owner: User) -> httpx.Response:
    return await c.get("/api/v1/audit", headers=u.headers)


ORG_PROBES: dict[OrgAction, tuple[Callable[..., Awaitable[httpx.Response]], int]] = {
    OrgAction.SEE_PROJECTS: (_see_projects, 200),
    OrgAction.CREATE_PROJECT: (_create_project, 201),
    OrgAction.SEE_DIRECTORY: (_directory, 200),
    OrgAction.MANAGE_TEAMS: (_teams, 201),
    OrgAction.MANAGE_MEMBERS: (_invite, 201),
    OrgAction.MANAGE_OWNERS: (_owners, 200),
    OrgAction.SEE_AUDIT_LOG: (_audit, 200),
}


def test_every_org_action_has_a_probe() -> None:
    assert set(ORG_PROBES) == set(ORG_MATRIX)


@pytest.mark.parametrize("role", list(OrgRole), ids=str)
async def test_org_roles_follow_the_matrix(
    client: httpx.AsyncClient, alice: User, db: Any, role: OrgRole
) -> None:
    user = alice if role is OrgRole.OWNER else await with_role(client, db, alice, role.value)
    for _ in range(2):  # targets for the owner probe
        await with_role(client, db, alice, "member")
    for action, (probe, ok) in ORG_PROBES.items():
        r = await probe(client, user, alice)
        expected = ok if role in ORG_MATRIX[action] else 403
        assert r.status_code == expected, f"{role} {action.name}: {r.status_code} {r.text}"


async def test_websocket_subscriptions_follow_project_roles(
    client: httpx.AsyncClient, base_url: str, alice: User, db: Any
) -> None:
    guest = await with_role(client, db, alice, "guest")
    project = await create_project(client, alice, visibility="private")
    ws = await WsClient.open(base_url, guest.token)
    try:
        # Not granted: the project does not exist for the guest.
        answer = await ws.subscribe(project["id"])
        assert answer["type"] == "error" and answer["code"] == "not_found"
        r = await client.post(
            f"/api/v1/projects/{project['id']}/members",
            json={"user_id": guest.id, "role": "viewer"},
            headers=alice.headers,
        )
        assert r.status_code == 201
        deadline = time.monotonic() + 10
        while (answer := await ws.subscribe(project["id"]))["type"] != "subscribed":
            assert time.monotonic() < deadline, answer  # the other replica: within 1 s
            await asyncio.sleep(0.2)
        # Losing the role ends the subscription (the session re-checks it).
        r = await client.delete(
            f"/api/v1/projects/{project['id']}/members/{guest.id}", headers=alice.headers
        )
        assert r.status_code == 204
        revoked = await ws.next({"error"}, timeout=15)
        assert revoked["code"] == "access_revoked"
    finally:
        await ws.close()
