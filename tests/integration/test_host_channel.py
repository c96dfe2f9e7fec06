"""Replicas call project hosts over the hosts' channel, and keep reading when a host
restarts (the channel reconnects; meanwhile calls go through Ray). Writes through a
host killed mid-flight are `test_durability`'s."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import pytest
import ray

from actors.placement import host_for, host_names
from actors.router import NAMESPACE
from tests.integration.conftest import User, create_project, create_task


async def _channel_calls(project_id: str) -> tuple[int, int]:
    """(pid, calls its channel ran) of the host that owns the project."""
    owner = ray.get_actor(host_for(uuid.UUID(project_id), host_names(2)), namespace=NAMESPACE)
    stats = await owner.stats.remote()
    return stats["pid"], stats["channel_calls"]


async def test_writes_and_reads_go_over_the_channel_and_reads_see_every_acknowledged_write(
    client: httpx.AsyncClient, alice: User
) -> None:
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"], title="first")
    _, before = await _channel_calls(project["id"])
    for i in range(10):
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}", json={"title": f"v{i}"}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        acknowledged = r.json()["version"]
        # Any replica, right after the acknowledgement: the write is there.
        got = await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
        assert got.status_code == 200
        assert got.json()["title"] == f"v{i}"
        assert got.json()["version"] >= acknowledged
    board = await client.get(f"/api/v1/projects/{project['id']}/board", headers=alice.headers)
    assert board.status_code == 200
    listed = await client.get(
        "/api/v1/tasks", params={"project_id": project["id"]}, headers=alice.headers
    )
    assert [t["title"] for t in listed.json()["items"]] == ["v9"]
    _, after = await _channel_calls(project["id"])
    assert after - before >= 22  # 10 writes, 10 task reads, the board, the list
    # A task the grain does not have is the same 404 as through Ray.
    missing = await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=alice.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


@pytest.mark.slow
async def test_reads_continue_across_a_host_restart_and_the_channel_comes_back(
    client: httpx.AsyncClient, alice: User
) -> None:
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"], title="kept")
    url = f"/api/v1/tasks/{task['id']}"
    assert (await client.get(url, headers=alice.headers)).status_code == 200
    pid, _ = await _channel_calls(project["id"])
    os.kill(pid, signal.SIGKILL)
    statuses: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = await client.get(url, headers=alice.headers)
        statuses.append(r.status_code)
        if r.status_code == 200:
            new_pid, calls = await _channel_calls(project["id"])
            if new_pid != pid and calls > 0:
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"reads did not come back over the channel: {statuses[-5:]}")
    assert set(statuses) <= {200, 503}, statuses  # never a 500
    assert (await client.get(url, headers=alice.headers)).json()["title"] == "kept"


async def test_the_workflow_labels_and_board_of_a_deleted_project_are_404(
    client: httpx.AsyncClient, alice: User
) -> None:
    project = await create_project(client, alice)
    await create_task(client, alice, project["id"])
    base = f"/api/v1/projects/{project['id']}"
    for part in ("workflow", "labels", "board"):
        assert (await client.get(f"{base}/{part}", headers=alice.headers)).status_code == 200
    r = await client.delete(base, headers=alice.headers)
    assert r.status_code == 204, r.text
    for part in ("workflow", "labels", "board"):
        gone = await client.get(f"{base}/{part}", headers=alice.headers)
        assert gone.status_code == 404, (part, gone.text)
