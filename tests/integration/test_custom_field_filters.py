"""Custom fields in filters, end to end: the task list (PostgreSQL), search (Tantivy),
a saved view's stored query and in-memory evaluation of the listed tasks agree, a
sort by a number field included; the breakdown report groups by custom fields;
user fields take only people who may read the project."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from domain.custom_fields import definitions_from_json
from domain.filters import Scope, ScopedField, TaskFacts, matches, parse, resolve
from search.schema import stem
from tests.integration.conftest import User, create_project, create_task, member_of
from tests.integration.search_helpers import labelled_project, search, wait_for

FIELDS: list[dict[str, Any]] = [
    {"name": "Severity", "type": "single_select", "options": [{"name": "High"}, {"name": "Low"}]},
    {"name": "Story points", "type": "number"},
    {"name": "Ship", "type": "date"},
    {"name": "Notes", "type": "text"},
    {"name": "Link", "type": "url"},
    {"name": "Owner", "type": "user"},
    {"name": "Approved", "type": "checkbox"},
    {"name": "Tags", "type": "multi_select", "options": [{"name": "Alpha"}, {"name": "Beta"}]},
]

#: Query (each also restricted to the test's label) → the numbers of the tasks it finds.
QUERIES = {
    'cf."Severity":high': {1},
    "cf.Severity:high,low": {1, 2},
    "-cf.Severity:high": {2, 3, 4},
    "has:cf.Severity": {1, 2},
    "NOT has:cf.Notes": {2, 3, 4},
    'cf."Story points":>3': {1},
    'cf."Story points":>=2.5': {1, 2},
    'cf."Story points":<0': {3},
    "cf.Ship:<2026-12-31": {2},
    "cf.Ship:2026-03-01": {2},
    "cf.Notes:crash": {1},
    'cf.Notes:"login page"': {1},
    "cf.Link:github.com/ACME": {1},
    "cf.Owner:me": {1},
    "cf.Approved:true": {1},
    "cf.Approved:false": {2, 3, 4},
    "cf.Tags:beta": {1, 3},
    "crash": {1},
    "cf.Severity:low OR cf.Tags:alpha": {1, 2},
}


async def _fields(client: httpx.AsyncClient, user: User, project_id: str) -> list[dict[str, Any]]:
    for body in FIELDS:
        r = await client.post(
            f"/api/v1/projects/{project_id}/fields", json=body, headers=user.headers
        )
        assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/projects/{project_id}/fields", headers=user.headers)
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _seed(
    client: httpx.AsyncClient, user: User, tag: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    project = await labelled_project(client, user, tag)
    fields = await _fields(client, user, project["id"])
    values: list[dict[str, Any]] = [
        {
            "Severity": "High",
            "Story points": 5,
            "Ship": "2026-12-31",
            "Notes": "Crashes on the login pages",
            "Link": "https://github.com/acme/web/issues/1",
            "Owner": user.id,
            "Approved": True,
            "Tags": ["Alpha", "Beta"],
        },
        {"Severity": "low", "Story points": 2.5, "Ship": "2026-03-01", "Approved": False},
        {"Story points": -1, "Tags": ["Beta"]},
        {},
    ]
    tasks = [
        await create_task(
            client, user, project["id"], title=f"Task {n}", labels=[tag], custom_fields=v
        )
        for n, v in enumerate(values, start=1)
    ]
    return project, fields, tasks


async def _listed(client: httpx.AsyncClient, user: User, text: str) -> list[str]:
    r = await client.get(
        "/api/v1/tasks", params={"filter": text, "limit": 100}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    return [t["key"] for t in r.json()["items"]]


async def test_list_search_view_and_memory_agree(client: httpx.AsyncClient, alice: User) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    project, fields, tasks = await _seed(client, alice, tag)
    key = {n: t["key"] for n, t in enumerate(tasks, start=1)}
    await wait_for(client, alice, lambda b: b["total"] == 4, filters=f"label:{tag}")
    scope = Scope(
        me=UUID(alice.id),
        now=datetime.now(UTC),
        users_by_email={alice.email.lower(): UUID(alice.id)},
        custom_fields=tuple(
            ScopedField(UUID(project["id"]), f) for f in definitions_from_json(fields)
        ),
    )
    for text, numbers in QUERIES.items():
        scoped = f"{text} label:{tag}"
        listed = set(await _listed(client, alice, scoped))
        searched = {
            i["task"]["key"] for i in (await search(client, alice, filters=scoped))["items"]
        }
        pred, _ = resolve(parse(scoped), scope)
        in_memory = {t["key"] for t in tasks if matches(pred, TaskFacts(t, "todo"), stem=stem)}
        expected = {key[n] for n in numbers}
        assert listed == searched == in_memory == expected, (text, listed, searched, in_memory)

    for direction, order in (("desc", [1, 2, 3, 4]), ("asc", [3, 2, 1, 4])):
        text = f'label:{tag} sort:cf."Story points"-{direction}'
        body = await search(client, alice, filters=text)
        assert await _listed(client, alice, text) == [key[n] for n in order]
        assert [i["task"]["key"] for i in body["items"]] == [key[n] for n in order]

    # A saved view stores the query as printed; run again, it finds the same tasks.
    text = f'cf."Story points":5,2.5,-1 label:{tag} sort:cf."Story points"-asc'
    r = await client.post(
        "/api/v1/views", json={"name": "points", "query": text}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    stored = r.json()["query"]
    assert await _listed(client, alice, stored) == [key[3], key[2], key[1]]
    assert await _listed(client, alice, text) == [key[3], key[2], key[1]]


async def test_names_that_mean_nothing_are_400(client: httpx.AsyncClient, alice: User) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    await _seed(client, alice, tag)
    for text, words in (
        ("cf.Nope:x", "no custom field named 'Nope'"),
        ("cf.Severity:urgent", "no option 'urgent'"),
        ('cf."Story points":lots', "expected a number"),
        ("sort:cf.Notes-desc", "only number or date fields sort"),
    ):
        r = await client.get("/api/v1/tasks", params={"filter": text}, headers=alice.headers)
        assert r.status_code == 400 and words in r.json()["detail"], r.text
        r = await client.get("/api/v1/search", params={"filters": text}, headers=alice.headers)
        assert r.status_code == 400 and words in r.json()["detail"], r.text
    r = await client.post(
        "/api/v1/views", json={"name": "bad", "query": 'cf."Severity'}, headers=alice.headers
    )
    assert r.status_code == 400


async def test_the_breakdown_report_groups_by_custom_fields(
    client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    project, fields, _ = await _seed(client, alice, tag)
    url = f"/api/v1/projects/{project['id']}/reports/breakdown"
    r = await client.get(url, params={"group_by": "cf:Severity"}, headers=alice.headers)
    assert r.status_code == 200, r.text
    groups = [(g["label"], g["count"], g["open"]) for g in r.json()["groups"]]
    assert groups == [("High", 1, 1), ("Low", 1, 1), ("(none)", 2, 2)]
    severity = next(f for f in fields if f["name"] == "Severity")
    r = await client.get(url, params={"group_by": f"cf:{severity['id']}"}, headers=alice.headers)
    assert r.json()["group_by"] == f"cf:{severity['id']}"

    r = await client.get(url, params={"group_by": "cf:Tags"}, headers=alice.headers)
    assert [(g["label"], g["count"]) for g in r.json()["groups"]] == [
        ("Alpha", 1),
        ("Beta", 2),
        ("(none)", 2),
    ]
    r = await client.get(url, params={"group_by": "cf:Approved"}, headers=alice.headers)
    assert [(g["value"], g["count"]) for g in r.json()["groups"]] == [("true", 1), ("false", 3)]
    r = await client.get(url, params={"group_by": "cf:Owner"}, headers=alice.headers)
    assert [(g["label"], g["count"]) for g in r.json()["groups"]] == [
        (alice.email, 1),
        ("(none)", 3),
    ]
    r = await client.get(
        url, params={"group_by": "cf:Severity", "format": "csv"}, headers=alice.headers
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["label"], row["count"]) for row in rows] == [
        ("High", "1"),
        ("Low", "1"),
        ("(none)", "2"),
    ]
    for bad in ("cf:Notes", "cf:Nope", "colour", "cf:"):
        r = await client.get(url, params={"group_by": bad}, headers=alice.headers)
        assert r.status_code == 422, (bad, r.text)
    r = await client.get(url, params={"group_by": "priority"}, headers=alice.headers)
    assert r.status_code == 200 and r.json()["groups"][-1] == {
        "value": "none",
        "label": "none",
        "count": 4,
        "open": 4,
        "estimate": 0.0,
    }
    r = await client.get(url, params={"group_by": "cf:Severity"}, headers=mallory.headers)
    assert r.status_code == 404


async def test_user_fields_take_only_people_who_may_read_the_project(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    project = await create_project(client, alice, visibility="private")
    pid = project["id"]
    r = await client.post(
        f"/api/v1/projects/{pid}/fields",
        json={"name": "Owner", "type": "user"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    bob = await member_of(client, db, alice, "Bob")
    for outsider in (bob.id, mallory.id):
        r = await client.post(
            "/api/v1/tasks",
            json={"project_id": pid, "title": "x", "custom_fields": {"Owner": outsider}},
            headers=alice.headers,
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["body", "custom_fields.Owner"]
    task = await create_task(client, alice, pid, custom_fields={"owner": alice.id})
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"custom_fields": {"Owner": bob.id}},
        headers=alice.headers,
    )
    assert r.status_code == 422, r.text

    r = await client.post(
        f"/api/v1/projects/{pid}/members",
        json={"user_id": bob.id, "role": "viewer"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10  # another replica's grants cache: within its TTL
    while True:
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}",
            json={"custom_fields": {"Owner": bob.id}},
            headers=alice.headers,
        )
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert r.status_code == 200, r.text
    owner_id = next(iter(r.json()["custom_fields"].values()))
    assert owner_id == bob.id


async def test_the_filtered_csv_export_has_a_column_per_custom_field(
    client: httpx.AsyncClient, alice: User
) -> None:
    import csv
    import io

    tag = "x" + uuid.uuid4().hex[:8]
    project, _, tasks = await _seed(client, alice, tag)
    r = await client.get(
        "/api/v1/tasks/export",
        params={"filter": f"label:{tag} sort:created-asc", "project_id": project["id"]},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["key"] for row in rows] == [t["key"] for t in tasks]
    first, second, third, fourth = rows
    assert (first["cf.Severity"], first["cf.Story points"], first["cf.Ship"]) == (
        "High",
        "5",
        "2026-12-31",
    )
    assert (first["cf.Owner"], first["cf.Approved"], first["cf.Tags"]) == (
        alice.email,
        "true",
        "Alpha,Beta",
    )
    assert (second["cf.Severity"], second["cf.Story points"], second["cf.Approved"]) == (
        "Low",
        "2.5",
        "false",
    )
    assert third["cf.Tags"] == "Beta" and third["cf.Story points"] == "-1"
    assert all(fourth[f"cf.{f['name']}"] == "" for f in FIELDS)
