"""The index is a cache: a reindex from PostgreSQL gives the same results as the
live index, and a shard whose files are gone rebuilds itself when it restarts."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import ray

from cluster.stack import Stack
from search.shards import NAMESPACE, actor_name
from tests.integration.conftest import User, create_task
from tests.integration.search_helpers import labelled_project, search, wait_for

QUERIES = ["", "alpha", "beta gamma", "status:open", "priority:high", "has:comments"]


async def _snapshot(client: httpx.AsyncClient, user: User, tag: str) -> dict[str, Any]:
    out = {}
    for q in QUERIES:
        body = await search(client, user, q, f"label:{tag} sort:created-asc", limit=100)
        out[q] = (body["total"], [i["task"]["key"] for i in body["items"]])
    return out


async def _seed(client: httpx.AsyncClient, user: User) -> str:
    tag = "r" + uuid.uuid4().hex[:8]
    project = await labelled_project(client, user, tag)
    titles = ["alpha one", "beta gamma", "alpha beta gamma", "delta"]
    tasks = [
        await create_task(client, user, project["id"], title=t, labels=[tag], priority=p)
        for t, p in zip(titles, ["high", "low", "high", "none"], strict=True)
    ]
    r = await client.post(
        f"/api/v1/tasks/{tasks[3]['id']}/comments", json={"body": "alpha"}, headers=user.headers
    )
    assert r.status_code == 201
    await wait_for(client, user, lambda b: b["total"] == 1, filters=f"label:{tag} has:comments")
    return tag


async def _lose_files(shard: Any, stack: Stack) -> Path:
    """Stop the shard's commits (it keeps taking changes from the consumer) and
    remove its files, as a lost disk would; the caller then kills it."""
    await shard.flush.remote()
    await shard.close.remote()
    path = Path(stack.settings.data_dir).resolve() / "search" / "shard-0"
    # A commit already running in its thread may still be writing: remove again
    # until the directory is gone (nothing creates it again but a new instance).
    for _ in range(100):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return path
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} could not be removed")


async def test_reindex_gives_the_same_results_as_the_live_index(
    client: httpx.AsyncClient, alice: User
) -> None:
    tag = await _seed(client, alice)
    live = await _snapshot(client, alice, tag)
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    await shard.rebuild.remote(alice.org_id)
    assert await _snapshot(client, alice, tag) == live
    await shard.rebuild.remote()
    assert await _snapshot(client, alice, tag) == live


async def test_a_shard_without_its_files_rebuilds_itself(
    client: httpx.AsyncClient, alice: User, stack: Stack
) -> None:
    tag = await _seed(client, alice)
    live = await _snapshot(client, alice, tag)
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    path = await _lose_files(shard, stack)
    killed_at = time.time()
    ray.kill(shard, no_restart=False)
    # The kill is asynchronous: wait for the restarted instance, not the old one.
    started = time.monotonic()
    while True:
        try:
            stats = await shard.stats.remote()
            if stats["started_at"] > killed_at and stats["recovered"]:
                break
        except ray.exceptions.RayActorError:
            pass
        assert time.monotonic() - started < 60, "the shard did not come back"
        await asyncio.sleep(0.2)
    assert await _snapshot(client, alice, tag) == live
    assert path.exists()


async def test_a_search_during_recovery_waits_or_refuses_but_never_answers_partially(
    client: httpx.AsyncClient, alice: User, stack: Stack
) -> None:
    """While a restarted shard rebuilds, a search waits for it or gets a 503 with
    Retry-After; it never sees an empty or partial index."""
    tag = await _seed(client, alice)
    live = await _snapshot(client, alice, tag)
    shard = ray.get_actor(actor_name(0), namespace=NAMESPACE)
    await _lose_files(shard, stack)
    ray.kill(shard, no_restart=False)
    answers = 0
    started = time.monotonic()
    while time.monotonic() - started < 60 and answers < 5:
        r = await client.get(
            "/api/v1/search",
            params={"q": "", "filters": f"label:{tag} sort:created-asc", "limit": 100},
            headers=alice.headers,
        )
        if r.status_code == 503:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "Retry-After" in r.headers
            continue
        assert r.status_code == 200, r.text
        assert r.json()["total"] == live[""][0], "a search saw a partial index"
        answers += 1
    assert answers == 5
