"""Runs inside a two-node Ray cluster for `test_two_node.py` (the test's own process
is attached to the suite's Ray, and one process can join only one cluster).

Reads a JSON job from argv, prints one JSON result line. Steps:

1. start the project hosts (spread over the nodes) and find which node each is on;
2. write to projects owned by a host on each node, with a live session (Redis
   fan-out) subscribed to one project of each;
3. on a line `stop` on stdin (the test kills the second node meanwhile), write
   again to every project until each write is acknowledged (the lost node's host
   restarts on the surviving node), then report.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import orjson
import ray

from actors.placement import host_for, host_names
from actors.router import HostConfig, HostRouter, ensure_hosts
from domain.commands import CreateTask, IdempotencyKey
from realtime.fanout import Fanout
from realtime.session import Limits, Session
from storage.db import create_engine


class Socket:
    def __init__(self) -> None:
        self.versions: dict[str, list[int]] = {}

    async def send_text(self, data: str) -> None:
        message = orjson.loads(data)
        if message["type"] == "event":
            self.versions.setdefault(message["project_id"], []).append(message["version"])

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None


async def _allow(_project_id: uuid.UUID) -> None:
    return None


async def _both_nodes_alive(timeout_s: float = 60.0) -> None:
    """Hosts are spread over the nodes alive when they start: wait for the second
    node to have joined, or the placement under test would see only one."""
    deadline = time.monotonic() + timeout_s
    while sum(1 for n in ray.nodes() if n["Alive"]) < 2:  # type: ignore[no-untyped-call]
        if time.monotonic() > deadline:
            raise RuntimeError("the second node never joined the cluster")
        await asyncio.sleep(0.2)


async def main(job: dict[str, Any]) -> dict[str, Any]:
    org, user = uuid.UUID(job["org_id"]), uuid.UUID(job["user_id"])
    await _both_nodes_alive()
    handles = ensure_hosts(HostConfig(2, job["database_url"], job["redis_url"], pool_size=3))
    router = HostRouter(handles)
    nodes = {name: (await h.stats.remote())["node"] for name, h in handles.items()}
    projects = [uuid.UUID(p) for p in job["projects"]]
    owner = {str(p): host_for(p, host_names(2)) for p in projects}
    acknowledged: dict[str, list[str]] = {str(p): [] for p in projects}

    async def write(project: uuid.UUID, deadline_s: float) -> None:
        key = IdempotencyKey(org, user, f"2n-{uuid.uuid4().hex}", "h")
        command = CreateTask(user, {"title": "two nodes"}, idempotency=key)
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                reply = await router.call(project, "apply", org, project, command, key)
                acknowledged[str(project)].append(reply.body["id"])
                return
            except Exception:  # the host is restarting elsewhere: retry, same key
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    fanout = Fanout(job["redis_url"])
    engine = create_engine(job["database_url"], pool_size=2)
    socket = Socket()
    session = Session(
        socket,
        user_id=str(user),
        fanout=fanout,
        redis=None,
        engine=engine,
        authorize=_allow,
        limits=Limits(queue=1000, replay=1000),
    )
    await session.start()
    watched = {owner[str(p)]: str(p) for p in projects}  # one project per host
    for project_id in watched.values():
        await session.handle(orjson.dumps({"type": "subscribe", "project_id": project_id}).decode())
    await asyncio.gather(*(write(p, 30) for p in projects for _ in range(3)))
    print(orjson.dumps({"phase": "ready", "nodes": nodes}).decode(), flush=True)

    await asyncio.to_thread(sys.stdin.readline)  # the test stops a node now
    started = time.monotonic()
    await asyncio.gather(*(write(p, 60) for p in projects for _ in range(3)))
    resumed_s = time.monotonic() - started
    after = {name: (await h.stats.remote())["node"] for name, h in handles.items()}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(
        len(socket.versions.get(p, [])) < len(acknowledged[p]) for p in watched.values()
    ):
        await asyncio.sleep(0.1)
    await session.close()
    await fanout.close()
    await engine.dispose()
    return {
        "phase": "done",
        "nodes": nodes,
        "nodes_after": after,
        "owner": owner,
        "acknowledged": acknowledged,
        "delivered": {p: socket.versions.get(p, []) for p in watched.values()},
        "resumed_s": resumed_s,
    }


if __name__ == "__main__":
    spec = orjson.loads(sys.argv[1])
    ray.init(address=spec["address"], namespace="taskhive-two-node", log_to_driver=False)
    try:
        print(orjson.dumps(asyncio.run(main(spec))).decode(), flush=True)
    finally:
        ray.shutdown()
