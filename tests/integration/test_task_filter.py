"""One filter, three backends: the task list (PostgreSQL), search (Tantivy) and
in-memory evaluation of the listed task JSON agree on the same tasks, and so does
the filtered board; plus the filtered list's paging and errors and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from domain.filters import Scope, TaskFacts, matches, parse, resolve
from search.schema import stem
from tests.integration.conftest import User, create_task
from tests.integration.search_helpers import labelled_project, wait_for

QUERIES = [
    "bug",
    "bugs crash",
    '"login page"',
    "label:{tag} assignee:me",
    "label:{tag} assignee:none",
    "label:{tag} status:open",
    "label:{tag} status:done",
    "label:{tag} priority:>=high",
    "label:{tag} NOT label:backend",
    "label:{tag} (crash OR docs)",
    "label:{tag} due:<2026-03-01",
    "label:{tag} NOT due:<2026-03-01",
    "label:{tag} has:comments",
    "label:{tag} created:>2020-01-01",
    "label:{tag} project:{key}",
]


async def _seed(
    client: httpx.AsyncClient, user: User, tag: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    project = await labelled_project(client, user, tag, "backend", "ops")
    specs = [
        {
            "title": f"Login page crashes {tag}",
            "description": "bugs in the form",
            "priority": "high",
            "assignee_id": user.id,
            "labels": [tag, "backend"],
        },
        {
            "title": f"Fix logout {tag}",
            "priority": "urgent",
            "due_date": "2026-02-01",
            "labels": [tag],
        },
        {"title": f"Write docs {tag}", "status": "done", "labels": [tag], "due_date": "2026-04-01"},
        {"title": f"Crash reports {tag}", "description": "a security bug", "labels": [tag, "ops"]},
    ]
    tasks = [await create_task(client, user, project["id"], **s) for s in specs]
    r = await client.post(
        f"/api/v1/tasks/{tasks[1]['id']}/comments",
        json={"body": "crash again"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    return project, tasks


async def _listed(client: httpx.AsyncClient, user: User, text: str) -> set[str]:
    r = await client.get(
        "/api/v1/tasks", params={"filter": text, "limit": 200}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    return {t["key"] for t in r.json()["items"]}


async def _boarded(
    client: httpx.AsyncClient, user: User, project_id: str, text: str, **params: str
) -> set[str]:
    r = await client.get(
        f"/api/v1/projects/{project_id}/board",
        params={"filter": text, **params},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    columns = r.json()["columns"]
    assert all(c["count"] == len(c["tasks"]) for c in columns)
    return {t["key"] for c in columns for t in c["tasks"]}


async def test_list_search_and_memory_agree(client: httpx.AsyncClient, alice: User) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    project, tasks = await _seed(client, alice, tag)
    await wait_for(client, alice, lambda b: b["total"] == 4, filters=f"label:{tag}")
    await wait_for(client, alice, lambda b: b["total"] == 1, filters=f"label:{tag} has:comments")
    scope = Scope(
        me=UUID(alice.id),
        now=datetime.now(UTC),
        projects_by_key={project["key"]: UUID(project["id"])},
    )
    categories = {"todo": "todo", "in_progress": "in_progress", "done": "done"}
    comments = {tasks[1]["key"]: ("crash again",)}
    for template in QUERIES:
        text = template.format(tag=tag, key=project["key"])
        scoped = text if "{tag}" in template else f"{text} label:{tag}"
        listed = await _listed(client, alice, scoped)
        r = await client.get(
            "/api/v1/search", params={"filters": scoped, "limit": 100}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        searched = {i["task"]["key"] for i in r.json()["items"]}
        pred, _ = resolve(parse(scoped), scope)
        in_memory = {
            t["key"]
            for t in tasks
            if matches(
                pred,
                TaskFacts(t, categories.get(t["status"], "todo"), 0, comments.get(t["key"], ())),
                stem=stem,
            )
        }
        assert listed == searched == in_memory, (scoped, listed, searched, in_memory)
        assert await _boarded(client, alice, project["id"], scoped) == listed, scoped
    assert await _listed(client, alice, f"bug label:{tag}") == {tasks[0]["key"], tasks[3]["key"]}


async def test_filtered_list_pages_sorts_and_rejects_bad_filters(
    client: httpx.AsyncClient, alice: User
) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    project = await labelled_project(client, alice, tag)
    made = [
        await create_task(client, alice, project["id"], title=f"T{i}", labels=[tag])
        for i in range(3)
    ]
    r = await client.get(
        "/api/v1/tasks",
        params={"filter": f"label:{tag} sort:created-desc", "limit": 2},
        headers=alice.headers,
    )
    first = r.json()
    assert [t["key"] for t in first["items"]] == [made[2]["key"], made[1]["key"]]
    r = await client.get(
        "/api/v1/tasks",
        params={
            "filter": f"label:{tag} sort:created-desc",
            "limit": 2,
            "cursor": first["next_cursor"],
        },
        headers=alice.headers,
    )
    assert [t["key"] for t in r.json()["items"]] == [made[0]["key"]] and r.json()[
        "next_cursor"
    ] is None
    r = await client.get("/api/v1/tasks", params={"filter": "label:(x"}, headers=alice.headers)
    assert r.status_code == 400 and r.json()["position"] == 6


async def test_a_filtered_board_keeps_columns_and_the_other_parameters(
    client: httpx.AsyncClient, alice: User
) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    project = await labelled_project(client, alice, tag, "backend")
    mine = await create_task(client, alice, project["id"], title="Mine", labels=[tag])
    done = await create_task(
        client, alice, project["id"], title="Done", labels=[tag, "backend"], status="done"
    )
    await create_task(client, alice, project["id"], title="Other")
    assert await _boarded(client, alice, project["id"], f"label:{tag}") == {
        mine["key"],
        done["key"],
    }
    # The filter narrows what the board's own parameters select, and the reverse.
    assert await _boarded(client, alice, project["id"], f"label:{tag}", status="done") == {
        done["key"]
    }
    r = await client.get(
        f"/api/v1/projects/{project['id']}/board",
        params={"filter": f"label:{tag}"},
        headers=alice.headers,
    )
    by_status = {c["status"]["id"]: [t["key"] for t in c["tasks"]] for c in r.json()["columns"]}
    assert by_status[done["status"]] == [done["key"]]
    assert mine["key"] in by_status[mine["status"]]
    r = await client.get(
        f"/api/v1/projects/{project['id']}/board",
        params={"filter": "label:(x"},
        headers=alice.headers,
    )
    assert r.status_code == 400 and r.json()["position"] == 6


@pytest.mark.parametrize("evil", ["=HYPERLINK(1)", "+1", "@SUM(A1)"])
async def test_the_csv_export_streams_the_filtered_tasks_safely(
    client: httpx.AsyncClient, alice: User, evil: str
) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    project = await labelled_project(client, alice, tag)
    task = await create_task(client, alice, project["id"], title=evil, labels=[tag])
    await create_task(client, alice, project["id"], title="other")
    r = await client.get(
        "/api/v1/tasks/export",
        params={"filter": f"label:{tag}", "format": "csv"},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["key"], row["title"]) for row in rows] == [(task["key"], "'" + evil)]
    r = await client.get(
        "/api/v1/tasks/export", params={"filter": "x", "format": "xlsx"}, headers=alice.headers
    )
    assert r.status_code == 422
