"""Replicas killed with SIGKILL under load, an API replica and the websocket
session's: HTTP clients retry into the other API replica, the websocket client
reconnects (once Serve replaced the realtime replica) and resumes by version, and
no event is missed or repeated. The suite's stack is left as it was."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from typing import Any

import httpx
import pytest
from ray import serve
from ray.serve._private.common import ReplicaState
from websockets.exceptions import ConnectionClosed

from cluster.stack import APP_NAME, REALTIME_APP
from tests.integration.conftest import User, create_project
from tests.integration.wsclient import WsClient
from tests.stack_fixtures import own_api_replicas

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]


def _running_replicas(app_name: str, deployment: str) -> int:
    app = serve.status().applications.get(app_name)
    if app is None:
        return 0
    states = app.deployments[deployment].replica_states
    return states.get(ReplicaState.RUNNING, 0)


def _gateway_error(r: httpx.Response) -> bool:
    """A reply from the front proxy about a dead upstream, not an answer of the app.

    Serve's HAProxy maps 502/503/504 to one plain-text "500 Internal Server Error"
    page; the app itself answers every error, 500 included, as problem+json."""
    if r.status_code in (502, 503, 504):
        return True
    is_problem = r.headers.get("content-type", "").startswith("application/problem+json")
    return r.status_code == 500 and not is_problem


async def _open(base_url: str, token: str, deadline: float) -> WsClient:
    while True:
        try:
            return await WsClient.open(base_url, token, open_timeout=5)
        except Exception:  # refused, reset, or a handshake to a dying replica
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_killed_replica_loses_no_write_and_no_event(
    client: httpx.AsyncClient, base_url: str, alice: User, db: Any
) -> None:
    project = await create_project(client, alice)
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            key = f"replica-kill-{n}-{i}-{uuid.uuid4().hex[:6]}"
            for _attempt in range(100):  # the same key until it lands: exactly once
                try:
                    r = await client.post(
                        "/api/v1/tasks",
                        json={"project_id": project["id"], "title": f"w{n}-{i}"},
                        headers={**alice.headers, "Idempotency-Key": key},
                        timeout=10,
                    )
                except httpx.HTTPError as exc:
                    failures.append(type(exc).__name__)
                else:
                    if r.status_code == 201:
                        acknowledged.append(r.json()["id"])
                        # A steady trickle, not a flood: what the client misses while
                        # away must stay within the suite's replay limit (100).
                        await asyncio.sleep(0.1)
                        break
                    failures.append(str(r.status_code))
                    assert _gateway_error(r), (r.status_code, r.headers.get("content-type"), r.text)
                await asyncio.sleep(0.1)

    deadline = time.monotonic() + 90
    ws = await _open(base_url, alice.token, deadline)
    await ws.subscribe(project["id"])
    victim_pid = int(ws.ready["replica"].rsplit(":", 1)[1])
    writers = [asyncio.create_task(writer(n)) for n in range(3)]
    seen: list[int] = [e["version"] for e in await ws.events(5)]

    api_victim = own_api_replicas()[0].pid
    os.kill(victim_pid, signal.SIGKILL)
    os.kill(api_victim, signal.SIGKILL)
    # Read until the dead replica's socket closes.
    with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
        while True:
            seen.append((await ws.next({"event"}, timeout=10))["version"])
    await asyncio.sleep(1.0)  # writes go on while the client is away

    ws = await _open(base_url, alice.token, deadline)
    assert int(ws.ready["replica"].rsplit(":", 1)[1]) != victim_pid
    answer = await ws.subscribe(project["id"], since=seen[-1])
    assert answer["type"] == "subscribed", answer
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*writers)
    r = await client.get(f"/api/v1/projects/{project['id']}", headers=alice.headers)
    try:
        target = r.json()["version"]  # the writes, and any rank rebalance among them
        while seen[-1] < target and time.monotonic() < deadline:
            seen.append((await ws.next({"event"}, timeout=15))["version"])
    finally:
        await ws.close()

    assert seen == list(range(seen[0], seen[0] + len(seen))), "a gap or a repeat"
    assert seen[0] == 1 and seen[-1] == target >= len(acknowledged)
    print(
        f"replica kill: {len(acknowledged)} writes acknowledged, {len(failures)} attempts "
        f"retried ({sorted(set(failures))}); {len(seen)} events, no gap"
    )
    assert len(set(acknowledged)) == len(acknowledged), "an acknowledged write was duplicated"
    rows = await db.fetch("SELECT id FROM tasks WHERE project_id = $1", uuid.UUID(project["id"]))
    assert {str(r["id"]) for r in rows} >= set(acknowledged), "an acknowledged write was lost"

    # Leave the suite's stack as it was: Serve brings the replicas back.
    while _running_replicas(APP_NAME, "api") < 2 or _running_replicas(REALTIME_APP, "realtime") < 2:
        assert time.monotonic() < deadline + 30, "Serve did not replace the killed replicas"
        await asyncio.sleep(0.5)
