"""Runs inside a two-node Ray cluster for `test_two_node.py` (the test's own process
is attached to the suite's Ray, and one process can join only one cluster).

Reads a JSON job from argv and talks to the test in lines: it prints JSON, the
test answers with a word on stdin. Steps:

1. start the project hosts (spread over the nodes), find which node each is on,
   and start the API (the real FastAPI app under uvicorn, `Frontend`) in a process
   pinned to the first node; print `placed` and wait for `go` (the test opens a
   websocket to that API and subscribes meanwhile);
2. write to every project, with an in-process session (Redis fan-out) subscribed
   to one project of each host too; print `ready`;
3. on `stop` (the test kills the second node meanwhile), write again to every
   project until each write is acknowledged (the lost node's host restarts on the
   surviving node), then print `done`.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import orjson
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.placement import host_for, host_names
from actors.router import HostConfig, HostRouter, ensure_hosts
from domain.commands import CreateTask, IdempotencyKey
from realtime.fanout import Fanout
from realtime.session import Limits, Session
from serve_app.config import AppConfig
from storage.db import create_engine


class Frontend:
    """The HTTP and websocket API served by uvicorn inside one Ray worker process,
    so that it runs on a chosen node (a Serve replica would do, at the cost of a
    second Serve instance on these two cores)."""

    async def start(self, config: AppConfig, port: int) -> str:
        import uvicorn

        from serve_app.app import app, make_context
        from serve_app.context import install_context

        # make_context blocks on Ray calls (host placement): not in the event loop.
        install_context(await asyncio.to_thread(make_context, config))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self._serving = asyncio.create_task(server.serve())
        deadline = time.monotonic() + 60
        while not server.started:
            if self._serving.done() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            await asyncio.sleep(0.05)
        return str(ray.get_runtime_context().get_node_id())


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


def _alive_nodes() -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [n for n in nodes if n["Alive"]]


async def _both_nodes_alive(timeout_s: float = 60.0) -> None:
    """Hosts are spread over the nodes alive when they start: wait for the second
    node to have joined, or the placement under test would see only one."""
    deadline = time.monotonic() + timeout_s
    while len(_alive_nodes()) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("the second node never joined the cluster")
        await asyncio.sleep(0.2)


async def main(job: dict[str, Any]) -> dict[str, Any]:
    org, user = uuid.UUID(job["org_id"]), uuid.UUID(job["user_id"])
    await _both_nodes_alive()
    config = HostConfig(2, job["database_url"], job["redis_url"], pool_size=3)
    handles = await asyncio.to_thread(ensure_hosts, config)
    router = HostRouter(handles, config)
    nodes = {name: (await h.stats.remote())["node"] for name, h in handles.items()}
    # The API runs on the first node (`node_a`, the head), the one the test keeps.
    head = next(n["NodeID"] for n in _alive_nodes() if "node_a" in n["Resources"])
    frontend = (
        ray.remote(Frontend)
        .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False))
        .remote()
    )
    api_config = AppConfig(
        database_url=job["database_url"],
        redis_url=job["redis_url"],
        jwt_secret=job["jwt_secret"],
        hosts=2,
        db_pool_size=3,
    )
    frontend_node = await frontend.start.remote(api_config, job["api_port"])  # type: ignore[attr-defined]
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
    placed = {"phase": "placed", "nodes": nodes, "owner": owner, "frontend_node": frontend_node}
    print(orjson.dumps(placed).decode(), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the test's websocket is subscribed now
    await asyncio.gather(*(write(p, 30) for p in projects for _ in range(3)))
    print(orjson.dumps({"phase": "ready", "nodes": nodes}).decode(), flush=True)

    await asyncio.to_thread(sys.stdin.readline)  # the test stops a node now
    started = time.monotonic()
    await asyncio.gather(*(write(p, 60) for p in projects for _ in range(3)))
    resumed_s = time.monotonic() - started
    after = {name: (await h.stats.remote())["node"] for name, h in router.handles.items()}
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
