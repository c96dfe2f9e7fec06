"""Search end to end: freshness, deletes, comments, typos, prefixes, highlights,
paging, errors, and permissions enforced inside the query (counts included)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import ray
from ray.exceptions import RayTaskError

from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import Words
from search.messages import SearchRequest, UnknownScope
from search.shards import NAMESPACE, actor_name
from serve_app.routes.search import SCOPE_NAMED_FROM
from tests.integration.conftest import User, create_project, create_task, member_of, signup
from tests.integration.search_helpers import keys, labelled_project, search, wait_for


def word() -> str:
    """A word no other test uses, so results are exactly this test's tasks."""
    return "zq" + uuid.uuid4().hex[:10]


async def test_a_write_is_searchable_within_a_second(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    latencies = []
    for _ in range(10):
        w = word()
        task = await create_task(client, alice, project["id"], title=f"Fresh {w} task")
        acknowledged = time.monotonic()  # from the write's acknowledgement

        def found(b: dict[str, Any], k: str = task["key"]) -> bool:
            return k in keys(b)

        body, _ = await wait_for(client, alice, found, q=w)
        latencies.append(time.monotonic() - acknowledged)
        assert body["total"] == 1
    # Nine in ten within the 1 s target, so one cold start or scheduling hiccup on
    # two shared cores does not fail it; bench/search.py measures the p99 itself.
    print(f"write-to-searchable seconds: {sorted(latencies)}")
    assert sorted(latencies)[-2] < 1.0, latencies


async def test_searches_and_the_relay_s_changes_reach_the_shard_over_its_channel(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    before = (await shard.stats.remote())["channel_calls"]
    w = word()
    task = await create_task(client, alice, project["id"], title=f"Channel {w}")
    await wait_for(client, alice, lambda b: task["key"] in keys(b), q=w)
    # At least the relay's change and the search that found it.
    assert (await shard.stats.remote())["channel_calls"] >= before + 2


async def test_an_answer_kept_for_a_repeated_search_gives_way_to_the_next_commit(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    w = word()
    first = await create_task(client, alice, project["id"], title=f"Kept {w} one")
    await wait_for(client, alice, lambda b: first["key"] in keys(b), q=w)
    before = await shard.stats.remote()
    for _ in range(5):
        again = await search(client, alice, w)
        assert keys(again) == {first["key"]} and again["total"] == 1
    after = await shard.stats.remote()
    # Each search counted once; back to back with nothing written, at least one
    # is answered from the kept answer (a late commit may renew it once or twice).
    hits = after["result_hits"] - before["result_hits"]
    assert hits + after["result_misses"] - before["result_misses"] == 5
    assert hits >= 1
    second = await create_task(client, alice, project["id"], title=f"Kept {w} two")
    body, _ = await wait_for(client, alice, lambda b: second["key"] in keys(b), q=w)
    assert keys(body) == {first["key"], second["key"]} and body["total"] == 2


async def test_an_update_a_delete_and_comment_text_reach_the_index(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    w, c = word(), word()
    task = await create_task(client, alice, project["id"], title=f"Old {w}")
    await wait_for(client, alice, lambda b: b["total"] == 1, q=w)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "Renamed entirely"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    await wait_for(client, alice, lambda b: b["total"] == 0, q=w)

    r = await client.post(
        f"/api/v1/tasks/{task['id']}/comments",
        json={"body": f"Seen it in {c} yesterday"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    body, _ = await wait_for(client, alice, lambda b: b["total"] == 1, q=c)
    assert f"<b>{c}</b>" in body["items"][0]["highlights"]["comments"]
    body = await search(client, alice, filters=f"has:comments key:{task['key']}")
    assert keys(body) == {task["key"]}

    r = await client.delete(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert r.status_code == 204
    await wait_for(client, alice, lambda b: b["total"] == 0, q=c)


async def test_typos_prefixes_highlights_filters_and_pages(
    client: httpx.AsyncClient, alice: User
) -> None:
    tag = word()
    project = await labelled_project(client, alice, tag)
    titles = ["Authentication fails on login", "Login button misaligned", "Billing export"]
    made = [await create_task(client, alice, project["id"], title=t, labels=[tag]) for t in titles]
    await wait_for(client, alice, lambda b: b["total"] == 3, filters=f"label:{tag}")

    body = await search(client, alice, q="authentcation", filters=f"label:{tag}")
    assert keys(body) == {made[0]["key"]}, "a typo still finds the task"
    body = await search(client, alice, q="authen", filters=f"label:{tag}")
    assert keys(body) == {made[0]["key"]}, "the word being typed matches as a prefix"
    body = await search(client, alice, q="login", filters=f"label:{tag}")
    assert keys(body) == {made[0]["key"], made[1]["key"]}
    assert all(
        "<b>Login</b>" in i["highlights"]["title"] or "<b>login</b>" in i["highlights"]["title"]
        for i in body["items"]
    )
    assert all(isinstance(i["score"], float) for i in body["items"])

    first = await search(client, alice, filters=f"label:{tag} sort:created-asc", limit=2)
    assert first["total"] == 3 and len(first["items"]) == 2 and first["next_cursor"]
    second = await search(
        client, alice, filters=f"label:{tag} sort:created-asc", limit=2, cursor=first["next_cursor"]
    )
    assert [i["task"]["key"] for i in first["items"] + second["items"]] == [m["key"] for m in made]
    assert second["next_cursor"] is None

    body = await search(client, alice, filters=f"label:{tag},assignee:none,priority:none")
    assert body["total"] == 3


async def test_a_syntax_error_is_a_400_problem_pointing_at_the_position(
    client: httpx.AsyncClient, alice: User
) -> None:
    r = await client.get(
        "/api/v1/search", params={"filters": "status:open,(label:x"}, headers=alice.headers
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["position"] == 12 and problem["query"] == "status:open,(label:x"
    assert problem["detail"].startswith("filters: ")
    r = await client.get("/api/v1/search", params={"q": "owner:me"}, headers=alice.headers)
    assert r.status_code == 400 and "unknown field 'owner'" in r.json()["detail"]
    r = await client.get("/api/v1/search", params={"cursor": "garbage"}, headers=alice.headers)
    assert r.status_code == 422
    r = await client.get("/api/v1/search", params={"q": "x"})
    assert r.status_code == 401


async def test_nobody_gets_hits_or_counts_from_projects_they_cannot_read(
    client: httpx.AsyncClient, alice: User, mallory: User, db: Any
) -> None:
    w = word()
    open_project = await create_project(client, alice)
    r = await client.post(
        "/api/v1/projects",
        json={"name": f"Secret {w}", "visibility": "private"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    secret = r.json()
    await create_task(client, alice, open_project["id"], title=f"Public {w}")
    await create_task(client, alice, secret["id"], title=f"Hidden {w}")
    await create_task(client, alice, secret["id"], title=f"Hidden too {w}")
    await wait_for(client, alice, lambda b: b["total"] == 3, q=w)

    bob = await member_of(client, db, alice, "Bob")
    body = await search(client, bob, q=w)
    assert body["total"] == 1 and all("Public" in i["task"]["title"] for i in body["items"])
    body = await search(client, bob, filters=f"project:{secret['key']}")
    assert body["total"] == 0

    # With more readable projects than hidden ones the shard scopes by the
    # organisation minus the hidden project: still none of its tasks.
    for _ in range(2):
        more = await create_project(client, alice)
        await create_task(client, alice, more["id"], title=f"Public too {w}")
    await wait_for(client, alice, lambda b: b["total"] == 5, q=w)
    body = await search(client, bob, q=w)
    assert body["total"] == 3 and all("Public" in i["task"]["title"] for i in body["items"])

    outsider = await search(client, mallory, q=w)
    assert outsider == {"items": [], "total": 0, "next_cursor": None}
    stranger = await signup(client)
    assert (await search(client, stranger, filters=f"project:{secret['id']}"))["total"] == 0


async def test_a_shard_keeps_a_named_project_set_and_asks_for_one_it_does_not_keep(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any]
) -> None:
    w = word()
    task = await create_task(client, alice, project["id"], title=f"Named {w}")
    await wait_for(client, alice, lambda b: task["key"] in keys(b), q=w)
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    key = f"test-{uuid.uuid4().hex}"
    request = SearchRequest(alice.org_id, None, Words((w,)), Sort(SortKey.RELEVANCE), scope_key=key)
    with pytest.raises(RayTaskError) as raised:
        await shard.search.remote(request)
    assert isinstance(raised.value, UnknownScope), raised.value

    sent = SearchRequest(
        alice.org_id, (project["id"],), Words((w,)), Sort(SortKey.RELEVANCE), scope_key=key
    )
    kept = (await shard.stats.remote())["scopes"]
    with_ids = await shard.search.remote(sent)
    assert (await shard.stats.remote())["scopes"] >= min(kept + 1, 1024)
    by_name = await shard.search.remote(request)
    assert [h.task["key"] for h in with_ids.hits] == [task["key"]]
    assert [h.task["key"] for h in by_name.hits] == [task["key"]]
    assert by_name.total == with_ids.total == 1
    assert with_ids.scope_kept  # what lets a replica send the name alone

    # A name stands for the set it was sent with: another project's tasks stay out.
    other = await create_project(client, alice)
    more = await create_task(client, alice, other["id"], title=f"Named too {w}")
    await wait_for(client, alice, lambda b: more["key"] in keys(b), q=w)
    assert [h.task["key"] for h in (await shard.search.remote(request)).hits] == [task["key"]]


async def test_an_organisation_s_many_projects_are_searched_by_name_and_stay_exact(
    client: httpx.AsyncClient, alice: User, db: Any
) -> None:
    w = word()
    projects = [await create_project(client, alice) for _ in range(SCOPE_NAMED_FROM)]
    first = await create_task(client, alice, projects[0]["id"], title=f"Many {w}")
    last = await create_task(client, alice, projects[-1]["id"], title=f"Many {w}")
    await wait_for(client, alice, lambda b: b["total"] == 2, q=w)
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    kept = (await shard.stats.remote())["scopes"]
    for _ in range(3):  # the first search may send the ids, the others the name
        assert keys(await search(client, alice, q=w)) == {first["key"], last["key"]}
    assert (await shard.stats.remote())["scopes"] <= kept + 1

    # A new project is a new set: its tasks are found, a private one stays hidden.
    newer = await create_project(client, alice)
    third = await create_task(client, alice, newer["id"], title=f"Many {w}")
    r = await client.post(
        "/api/v1/projects",
        json={"name": f"Secret {w}", "visibility": "private"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    await create_task(client, alice, r.json()["id"], title=f"Many hidden {w}")
    await wait_for(client, alice, lambda b: b["total"] == 4, q=w)
    bob = await member_of(client, db, alice, "Bob")
    for _ in range(2):
        body = await search(client, bob, q=w)
        assert keys(body) == {first["key"], last["key"], third["key"]}
        assert body["total"] == 3
