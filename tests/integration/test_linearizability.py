"""Linearizability of one project's tasks under concurrent clients (small, bounded).

Writers change their own task's title again and again; readers read the tasks by
id and as a list; every client goes through a different path each time: HAProxy
and each API replica's own port, so reads and writes cross replicas. The history
(start, end, version, value of each acknowledged operation) is checked by
`tests.linearizability`: no read older than a write acknowledged before it
started, reads show what their version was written with, versions never go
backwards for a client, and PostgreSQL ends with every acknowledged write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from typing import Any

import httpx
import pytest

from cluster.stack import Stack
from tests.integration.conftest import User, create_project, create_task
from tests.linearizability import Op, violations
from tests.stack_fixtures import own_replica_urls

pytestmark = pytest.mark.timeout(60, func_only=True)

WRITERS = 3
READERS = 4
WRITES_EACH = 25
READS_EACH = 40


async def test_reads_and_writes_across_replicas_are_linearizable(
    base_url: str, client: httpx.AsyncClient, alice: User, db: Any, stack: Stack
) -> None:
    replicas = own_replica_urls()
    assert len(replicas) == stack.settings.replicas, f"replicas answering: {replicas}"
    paths = [base_url, *replicas]
    project = await create_project(client, alice)
    created = [
        await create_task(client, alice, project["id"], title=f"w{i}-0") for i in range(WRITERS)
    ]
    keys = [t["id"] for t in created]
    # The creations are acknowledged writes too: version 1 with the first title.
    history: list[Op] = [
        Op("setup", "write", t["id"], 0.0, 0.0, t["version"], t["title"]) for t in created
    ]
    used_paths: set[str] = set()

    async with contextlib.AsyncExitStack() as opened:
        clients = {
            url: await opened.enter_async_context(
                httpx.AsyncClient(base_url=url, headers=alice.headers, timeout=20.0)
            )
            for url in paths
        }

        async def timed(name: str, kind: str, request: Any) -> tuple[float, float, httpx.Response]:
            start = time.monotonic()
            response = await request
            end = time.monotonic()
            assert response.status_code == 200, (
                f"{name} {kind}: {response.status_code} {response.text}"
            )
            return start, end, response

        async def writer(n: int) -> None:
            name, key = f"writer-{n}", keys[n]
            route = itertools.cycle(paths[n % len(paths) :] + paths[: n % len(paths)])
            for i in range(1, WRITES_EACH + 1):
                url = next(route)
                used_paths.add(url)
                title = f"w{n}-{i}"
                start, end, r = await timed(
                    name, "write", clients[url].patch(f"/api/v1/tasks/{key}", json={"title": title})
                )
                body = r.json()
                history.append(Op(name, "write", key, start, end, body["version"], body["title"]))
                if i % 5 == 0:  # and read its own writes back, through the next path
                    start, end, r = await timed(
                        name, "read", clients[next(route)].get(f"/api/v1/tasks/{key}")
                    )
                    body = r.json()
                    history.append(
                        Op(name, "read", key, start, end, body["version"], body["title"])
                    )

        async def reader(n: int) -> None:
            name = f"reader-{n}"
            route = itertools.cycle(paths[n % len(paths) :] + paths[: n % len(paths)])
            rng = random.Random(n)
            for i in range(READS_EACH):
                url = next(route)
                used_paths.add(url)
                if i % 2:
                    key = rng.choice(keys)
                    start, end, r = await timed(
                        name, "read", clients[url].get(f"/api/v1/tasks/{key}")
                    )
                    found = [r.json()]
                else:
                    start, end, r = await timed(
                        name,
                        "list",
                        clients[url].get("/api/v1/tasks", params={"project_id": project["id"]}),
                    )
                    found = r.json()["items"]
                    assert {t["id"] for t in found} == set(keys)
                for body in found:
                    history.append(
                        Op(name, "read", body["id"], start, end, body["version"], body["title"])
                    )

        await asyncio.gather(
            *(writer(n) for n in range(WRITERS)), *(reader(n) for n in range(READERS))
        )

    rows = await db.fetch(
        "SELECT id, version, title FROM tasks WHERE project_id = $1", uuid.UUID(project["id"])
    )
    final = {str(row["id"]): (row["version"], row["title"]) for row in rows}
    assert violations(history, final) == []
    # The check had something to check: every path used, every write acknowledged,
    # and reads that overlapped writes.
    assert used_paths == set(paths)
    assert sum(op.kind == "write" for op in history) == WRITERS * (WRITES_EACH + 1)
    assert all(final[k][1] == f"w{n}-{WRITES_EACH}" for n, k in enumerate(keys))
    for key in keys:  # the API, through every path, agrees with PostgreSQL at the end
        for url in paths:
            async with httpx.AsyncClient(base_url=url, headers=alice.headers, timeout=20.0) as c:
                body = (await c.get(f"/api/v1/tasks/{key}")).json()
            assert (body["version"], body["title"]) == final[key]
