"""Mass assignment, generated from the OpenAPI document: every JSON request body
forbids unknown fields, none declares a server-owned field (ids, owners, authors,
versions, timestamps) unless listed below with why, and the live API answers 422
to each body that smuggles one in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from tests.integration.conftest import User
from tests.integration.openapi_examples import example, resolve

#: Fields only the server sets.
SERVER_OWNED = frozenset(
    {
        "id",
        "org_id",
        "owner_id",
        "author_id",
        "reporter_id",
        "uploader_id",
        "actor_id",
        "invited_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "accepted_at",
        "enabled_at",
        "version",
        "epoch",
        "task_seq",
        "password_hash",
        "token_hash",
        "user_id",
    }
)

#: (schema title, field) → why a client legitimately sends it.
ALLOWED = {
    ("SwitchOrgIn", "org_id"): "names the organisation to switch to; membership is checked",
    ("WorkflowIn", "version"): "a precondition (the version the edit was based on), not set",
    ("ProjectMemberIn", "user_id"): "names who gets the role; must be an organisation member",
}


def _json_bodies(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method.upper(), path, op


async def test_request_bodies_forbid_unknown_and_server_owned_fields(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    problems = []
    for method, path, op in _json_bodies(spec):
        schema = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
        title = schema.get("title", "?")
        if schema.get("additionalProperties") is not False:
            problems.append(f"{method} {path} ({title}) accepts unknown fields")
        for name in set(schema.get("properties", {})) & SERVER_OWNED:
            if (title, name) not in ALLOWED:
                problems.append(f"{method} {path} ({title}) declares server-owned {name!r}")
    assert not problems, "\n".join(problems)


async def test_every_body_with_a_server_owned_field_is_refused(
    client: httpx.AsyncClient, alice: User
) -> None:
    spec = (await client.get("/openapi.json")).json()
    failures = []
    checked = 0
    for method, path, op in _json_bodies(spec):
        schema = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
        body = example(spec, schema)
        declared = set(schema.get("properties", {}))
        field = next(f for f in ("org_id", "owner_id", "id", "created_at") if f not in declared)
        body[field] = str(uuid.uuid4())
        params = {
            p["name"]: str(uuid.uuid4()) for p in op.get("parameters", []) if p["in"] == "path"
        }
        r = await client.request(method, path.format(**params), json=body, headers=alice.headers)
        checked += 1
        if r.status_code != 422 or field not in r.text:
            failures.append(f"{method} {path} with {field}: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)
    assert checked >= 30


async def test_a_signup_cannot_choose_its_role_or_org(client: httpx.AsyncClient) -> None:
    base = {
        "email": f"m-{uuid.uuid4().hex[:8]}@example.com",
        "name": "M",
        "password": "long enough",
    }
    for extra in ({"role": "owner"}, {"org_id": str(uuid.uuid4())}, {"is_active": False}):
        r = await client.post("/api/v1/auth/signup", json={**base, **extra})
        assert r.status_code == 422, (extra, r.text)
