"""Import from Jira's CSV (by API and by the CLI) and export/import round trips,
against the real stack: every issue lands with its fields, people, parents,
sprints, comments and dates; a bad file writes nothing; imports notify nobody."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.integration.conftest import User, create_project, member_of, signup
from tests.integration.notify_helpers import consumed, eventually, inbox

FIXTURES = Path(__file__).parent.parent / "fixtures"


async def _member(client: httpx.AsyncClient, db: Any, owner: User, email: str) -> User:
    user = await signup(client, email=email, name=email.split("@")[0].title())
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')",
        uuid.UUID(owner.org_id),
        uuid.UUID(user.id),
    )
    return user


async def _team(client: httpx.AsyncClient, db: Any, owner: User) -> tuple[bytes, User, User]:
    """The Jira fixture with a fresh email domain, and its two members."""
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    data = (FIXTURES / "jira_export.csv").read_bytes().replace(b"acme.example", domain.encode())
    ann = await _member(client, db, owner, f"ann@{domain}")
    bob = await _member(client, db, owner, f"bob@{domain}")
    return data, ann, bob


async def _import(
    client: httpx.AsyncClient, user: User, project_id: str, data: bytes, **params: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/projects/{project_id}/imports",
        params=params,
        content=data,
        headers={**user.headers, "Content-Type": "text/csv"},
    )


async def _finished(
    client: httpx.AsyncClient, user: User, project_id: str, job: dict[str, Any]
) -> dict[str, Any]:
    async def state() -> dict[str, Any]:
        r = await client.get(
            f"/api/v1/projects/{project_id}/imports/{job['id']}", headers=user.headers
        )
        body: dict[str, Any] = r.json()
        return body

    return await eventually(state, lambda j: j["status"] != "running", timeout=60)


async def _tasks(client: httpx.AsyncClient, user: User, project_id: str) -> dict[str, Any]:
    r = await client.get(
        "/api/v1/tasks", params={"project_id": project_id, "limit": 200}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    return {t["title"]: t for t in r.json()["items"]}


async def test_a_jira_export_imports_with_everything_it_holds(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    data, ann, bob = await _team(client, db, alice)
    project = await create_project(client, alice, key="SHOP", workflow_template="scrum")
    pid = project["id"]
    r = await _import(client, alice, pid, data, source="jira")
    assert r.status_code == 202, r.text
    job = await _finished(client, alice, pid, r.json())
    assert (job["status"], job["done"], job["total"], job["progress"]) == ("done", 12, 12, 1.0)
    assert job["report"]["unknown_users"] == ["carol@elsewhere.example"]

    tasks = await _tasks(client, alice, pid)
    assert len(tasks) == 12
    safari = tasks["Checkout fails on Safari"]
    assert (safari["status"], safari["priority"]) == ("in_progress", "urgent")
    assert (safari["assignee_id"], safari["reporter_id"]) == (ann.id, bob.id)
    assert safari["labels"] == ["frontend", "payments"]
    assert (safari["estimate"], safari["due_date"]) == (5.0, "2026-11-12")
    assert safari["created_at"].startswith("2026-11-03T09:15:00")
    assert safari["updated_at"].startswith("2026-11-05T16:02:00")
    assert tasks["Fix SameSite cookie flag"]["parent_id"] == safari["id"]
    cart = tasks["Build the new cart"]
    assert tasks["Cart API"]["parent_id"] == cart["id"]
    assert cart["parent_id"] == tasks["Epic: Checkout revamp"]["id"]
    assert tasks["Typo on the pricing page"]["assignee_id"] is None  # carol is no member

    sprints = (await client.get(f"/api/v1/projects/{pid}/sprints", headers=alice.headers)).json()[
        "items"
    ]
    by_name = {s["name"]: s["id"] for s in sprints}
    assert safari["sprint_id"] == by_name["Sprint 2"]
    assert tasks["Cart API"]["sprint_id"] == by_name["Sprint 1"]
    labels = (await client.get(f"/api/v1/projects/{pid}/labels", headers=alice.headers)).json()
    names = {x["name"] for x in (labels["labels"] if isinstance(labels, dict) else labels)}
    assert {"frontend", "payments", "security", "design", "ci"} <= names

    comments = (
        await client.get(f"/api/v1/tasks/{safari['id']}/comments", headers=alice.headers)
    ).json()["items"]
    assert [(c["author_id"], c["created_at"][:16]) for c in comments] == [
        (bob.id, "2026-11-04T10:00"),
        (ann.id, "2026-11-05T09:30"),
    ]

    # History, not news: nobody is notified of imported assignments or comments.
    await consumed(db, pid)
    assert (await inbox(client, ann))["items"] == []
    assert (await inbox(client, bob))["items"] == []


async def test_a_bad_file_is_reported_by_line_and_nothing_is_written(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    project = await create_project(client, alice, workflow_template="scrum")
    pid = project["id"]
    bad = (FIXTURES / "jira_malformed.csv").read_bytes()
    r = await _import(client, alice, pid, bad, source="jira")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problems = [(p["line"], p["column"]) for p in r.json()["report"]["errors"]]
    assert problems == [(3, None), (5, "Created")]
    assert await _tasks(client, alice, pid) == {}
    jobs = await client.get(f"/api/v1/projects/{pid}/imports", headers=alice.headers)
    assert jobs.json()["items"] == []

    fine = b"Summary,Status\nBlocked thing,Blocked\n"
    r = await _import(client, alice, pid, fine, source="jira")
    assert r.status_code == 422 and r.json()["report"]["unknown_statuses"] == ["Blocked"]
    r = await _import(client, alice, pid, fine, source="jira", create_statuses="true")
    assert r.status_code == 202
    assert (await _finished(client, alice, pid, r.json()))["status"] == "done"
    workflow = (await client.get(f"/api/v1/projects/{pid}/workflow", headers=alice.headers)).json()
    assert "Blocked" in [s["name"] for s in workflow["statuses"]]
    assert (await _tasks(client, alice, pid))["Blocked thing"]["status"] == "blocked"

    dry = await _import(client, alice, pid, fine, source="jira", dry_run="true")
    assert dry.status_code == 200 and dry.json()["status"] == "planned"
    assert len(await _tasks(client, alice, pid)) == 1

    no_mapping = await _import(client, alice, pid, fine, source="csv")
    assert no_mapping.status_code == 422 and "mapping" in no_mapping.text


def _normalised(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must survive a round trip: everything but ids, keys and numbers."""
    status = {s["id"]: s["name"] for s in doc["workflow"]["statuses"]}
    titles = {t["id"]: t["title"] for t in doc["tasks"]}
    sprint = {s["id"]: s["name"] for s in doc["sprints"]}
    bodies: dict[str, list[str]] = {}
    for c in doc["comments"]:
        bodies.setdefault(titles[c["task_id"]], []).append(c["body"])
    return sorted(
        (
            t["title"],
            t["description"],
            status[t["status"]],
            t["priority"],
            t["assignee_id"],
            t["reporter_id"],
            tuple(t["labels"]),
            t["estimate"],
            t["due_date"],
            titles.get(t["parent_id"]),
            sprint.get(t["sprint_id"]),
            t["created_at"],
            tuple(bodies.get(t["title"], [])),
            _custom_values(doc, t),
        )
        for t in doc["tasks"]
    )


def _custom_values(doc: dict[str, Any], task: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A task's custom values by field name, options by name (ids differ per project)."""
    fields = {f["id"]: f for f in doc["fields"]}
    out = []
    for field_id, value in task["custom_fields"].items():
        field = fields[field_id]
        names = {o["id"]: o["name"] for o in field["options"]}
        shown = [names[v] for v in value] if isinstance(value, list) else names.get(value, value)
        out.append((field["name"], shown))
    return tuple(sorted(out))


async def test_export_then_import_round_trips(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    data, ann, _ = await _team(client, db, alice)
    source = await create_project(client, alice, workflow_template="scrum")
    for body in (
        {"name": "Story Points", "type": "number"},
        {
            "name": "Severity",
            "type": "single_select",
            "options": [{"name": "High"}, {"name": "Low"}],
        },
        {"name": "Owner", "type": "user"},
        {"name": "Reviewed", "type": "checkbox"},
    ):
        r = await client.post(
            f"/api/v1/projects/{source['id']}/fields", json=body, headers=alice.headers
        )
        assert r.status_code == 201, r.text
    job = (await _import(client, alice, source["id"], data, source="jira")).json()
    assert (await _finished(client, alice, source["id"], job))["status"] == "done"
    imported = await _tasks(client, alice, source["id"])
    safari = imported["Checkout fails on Safari"]
    # Jira's story points fill the number field of that name (and the estimate).
    assert list(safari["custom_fields"].values()) == [safari["estimate"]]
    r = await client.patch(
        f"/api/v1/tasks/{safari['id']}",
        json={"custom_fields": {"Severity": "High", "Owner": ann.id, "Reviewed": True}},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text

    exported = await client.get(f"/api/v1/projects/{source['id']}/export", headers=alice.headers)
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    first = orjson.loads(exported.content)
    assert len(first["tasks"]) == 12 and len(first["comments"]) == 4
    assert [f["name"] for f in first["fields"]] == ["Story Points", "Severity", "Owner", "Reviewed"]

    copy = await create_project(client, alice, workflow_template="scrum")
    r = await _import(client, alice, copy["id"], exported.content, source="taskhive")
    assert r.status_code == 202, r.text
    assert (await _finished(client, alice, copy["id"], r.json()))["status"] == "done"
    second = orjson.loads(
        (await client.get(f"/api/v1/projects/{copy['id']}/export", headers=alice.headers)).content
    )
    assert _normalised(second) == _normalised(first)
    # The fields were re-created in the copy (new ids), values mapped onto them.
    assert [f["name"] for f in second["fields"]] == [f["name"] for f in first["fields"]]
    assert {f["id"] for f in second["fields"]}.isdisjoint({f["id"] for f in first["fields"]})
    copied = next(t for t in second["tasks"] if t["title"] == "Checkout fails on Safari")
    assert _custom_values(second, copied) == (
        ("Owner", ann.id),
        ("Reviewed", True),
        ("Severity", "High"),
        ("Story Points", safari["estimate"]),
    )

    as_csv = await client.get(
        f"/api/v1/projects/{source['id']}/export", params={"format": "csv"}, headers=alice.headers
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 12
    by_title = {row["title"]: row for row in rows}
    safari = by_title["Checkout fails on Safari"]
    assert by_title["Fix SameSite cookie flag"]["parent"] == safari["key"]
    assert safari["status"] == "In Progress" and safari["sprint"] == "Sprint 2"
    assert safari["assignee"].startswith("ann@")
    # People by email (ann is also the assignee), options by name.
    assert (safari["Severity"], safari["Owner"], safari["Reviewed"]) == (
        "High",
        safari["assignee"],
        "true",
    )
    assert safari["Story Points"] == f"{imported['Checkout fails on Safari']['estimate']:g}"


async def test_who_may_import_and_export(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    project = await create_project(client, alice)
    pid = project["id"]
    bob = await member_of(client, db, alice, "Bob")
    r = await _import(client, bob, pid, b"Summary\nx\n", source="jira")
    assert r.status_code == 403
    for method, path in (
        ("POST", f"/api/v1/projects/{pid}/imports?source=jira"),
        ("GET", f"/api/v1/projects/{pid}/imports"),
        ("GET", f"/api/v1/projects/{pid}/imports/{uuid.uuid4()}"),
        ("GET", f"/api/v1/projects/{pid}/export"),
    ):
        r = await client.request(method, path, content=b"Summary\nx\n", headers=mallory.headers)
        assert r.status_code == 404, (method, path, r.status_code)


async def test_the_cli_imports_with_a_token_and_shows_progress(
    client: httpx.AsyncClient, alice: User, db: Any, base_url: str, tmp_path: Path
) -> None:
    data, _, _ = await _team(client, db, alice)
    key = "CLI" + "".join(chr(ord("A") + int(c, 16) % 26) for c in uuid.uuid4().hex[:4])
    await create_project(client, alice, key=key, workflow_template="scrum")
    token = await client.post(
        "/api/v1/users/me/tokens",
        json={"name": "import", "scopes": ["read", "write"]},
        headers=alice.headers,
    )
    assert token.status_code == 201, token.text
    file = tmp_path / "jira.csv"
    file.write_bytes(data)
    env = {**os.environ, "TASKHIVE_TOKEN": token.json()["token"]}
    command = [sys.executable, "-m", "cluster.cli", "import", "jira", str(file)]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--project", key, "--url", base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"imported 12 issues into {key}" in done.stdout
    assert "carol@elsewhere.example" in done.stderr  # the report's warning
    assert "importing" in done.stderr  # the progress bar

    out = tmp_path / "out.json"
    exported = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "cluster.cli",
            "export",
            "--project",
            key,
            "--url",
            base_url,
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    assert len(orjson.loads(out.read_bytes())["tasks"]) == 12

    missing = await asyncio.to_thread(
        subprocess.run,
        [*command, "--project", "NOPE", "--url", base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "no project with key 'NOPE'" in missing.stderr


async def test_a_mapped_csv_fills_custom_fields(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    bob = await member_of(client, db, alice, "Bob")
    bob_email = await db.fetchval("SELECT email FROM users WHERE id = $1", uuid.UUID(bob.id))
    project = await create_project(client, alice)
    pid = project["id"]
    for body in (
        {
            "name": "Severity",
            "type": "single_select",
            "options": [{"name": "High"}, {"name": "Low"}],
        },
        {"name": "Points", "type": "number"},
        {"name": "Approved", "type": "checkbox"},
        {"name": "Tags", "type": "multi_select", "options": [{"name": "a"}, {"name": "b"}]},
        {"name": "Owner", "type": "user"},
    ):
        r = await client.post(f"/api/v1/projects/{pid}/fields", json=body, headers=alice.headers)
        assert r.status_code == 201, r.text
    fields = (await client.get(f"/api/v1/projects/{pid}/fields", headers=alice.headers)).json()
    by_name = {f["name"]: f for f in fields["items"]}
    option = {
        (f["name"], o["name"]): o["id"] for f in fields["items"] for o in f.get("options") or []
    }
    mapping = orjson.dumps(
        {
            "title": "Name",
            "cf:Severity": "Sev",
            "cf:Points": "Pts",
            "cf:Approved": "OK?",
            "cf:Tags": "Tags",
            "cf:Owner": "Who",
        }
    ).decode()
    data = (
        "Name,Sev,Pts,OK?,Tags,Who\n"
        f"First,high,3,yes,a;b,{bob_email}\n"
        "Second,Low,2.5,no,,\n"
        "Third,,,,,\n"
    ).encode()
    r = await _import(client, alice, pid, data, source="csv", mapping=mapping)
    assert r.status_code == 202, r.text
    assert (await _finished(client, alice, pid, r.json()))["status"] == "done"
    tasks = await _tasks(client, alice, pid)
    ids = {name: f["id"] for name, f in by_name.items()}
    assert tasks["First"]["custom_fields"] == {
        ids["Severity"]: option[("Severity", "High")],
        ids["Points"]: 3,
        ids["Approved"]: True,
        ids["Tags"]: [option[("Tags", "a")], option[("Tags", "b")]],
        ids["Owner"]: bob.id,
    }
    assert tasks["Second"]["custom_fields"] == {
        ids["Severity"]: option[("Severity", "Low")],
        ids["Points"]: 2.5,
        ids["Approved"]: False,
    }
    assert tasks["Third"]["custom_fields"] == {}

    bad = b"Name,Sev,Pts,OK?\nX,urgent,many,maybe\n"
    mapping = orjson.dumps(
        {"title": "Name", "cf:Severity": "Sev", "cf:Points": "Pts", "cf:Approved": "OK?"}
    ).decode()
    r = await _import(client, alice, pid, bad, source="csv", mapping=mapping)
    assert r.status_code == 422, r.text
    problems = {(p["line"], p["column"]) for p in r.json()["report"]["errors"]}
    assert problems == {(2, "Severity"), (2, "Points"), (2, "Approved")}, r.json()["report"]
    r = await _import(
        client,
        alice,
        pid,
        b"Name,X\nY,1\n",
        source="csv",
        mapping=orjson.dumps({"title": "Name", "cf:Nope": "X"}).decode(),
    )
    assert r.status_code == 422 and "Nope" in r.text
    assert len(await _tasks(client, alice, pid)) == 3
