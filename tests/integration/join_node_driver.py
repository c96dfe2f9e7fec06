"""Runs inside the test's own Ray cluster for `test_two_node.py::test_a_node_that_joins_later_gets_hosts`
(one process can join only one cluster, and the test's is attached to the suite's).

Reads a JSON job from argv and talks to the test in lines: it prints JSON, the
test answers with a word on stdin. Writers create tasks in every project, each
write retried under its idempotency key until acknowledged, from start to end:

1. start two project hosts on the only node; print `placed`;
2. on `joined` (the test added a second node), run the re-spread chore until the
   hosts are on both nodes; print `spread`;
3. on `lost` (the test killed that node), wait until both hosts answer again (Ray
   restarted the lost one on the first node); print `regrouped`;
4. on `joined` (a third node), run the chore until the hosts are on two nodes
   again, stop the writers; print `done` with every acknowledged write.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import orjson
import ray

from actors.placement import host_names
from actors.respread import RespreadConfig, Respreader
from actors.router import NAMESPACE, HostConfig, HostRouter, ensure_hosts
from domain.commands import CreateTask, IdempotencyKey

#: Longest a single write may take, all retries included (a lost node is found in ~3 s).
WRITE_DEADLINE_S = 60.0


class Writers:
    """One loop per project writing tasks until stopped; every write is retried
    under its key until acknowledged, so each is stored exactly once."""

    def __init__(self, router: HostRouter, org: uuid.UUID, user: uuid.UUID) -> None:
        self._router, self._org, self._user = router, org, user
        self.acknowledged: dict[str, list[str]] = {}
        self.failures: list[str] = []
        self.slowest_s = 0.0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, projects: list[uuid.UUID]) -> None:
        for project in projects:
            self.acknowledged[str(project)] = []
            self._tasks.append(asyncio.create_task(self._loop(project)))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def progressed(self, writes: int = 2, timeout_s: float = 60.0) -> None:
        """Wait until every project has `writes` more acknowledged writes than now
        (after a move: its projects were written through the new host)."""
        start = {p: len(ids) for p, ids in self.acknowledged.items()}
        deadline = time.monotonic() + timeout_s
        while any(len(self.acknowledged[p]) < n + writes for p, n in start.items()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"writes stalled: {self.failures[-3:]}")
            await asyncio.sleep(0.1)

    def take_slowest(self) -> float:
        """The longest a write took (retries included) since the last call."""
        slowest, self.slowest_s = self.slowest_s, 0.0
        return slowest

    async def _loop(self, project: uuid.UUID) -> None:
        while not self._stop.is_set():
            try:
                await self._write(project)
            except Exception as exc:  # reported to the test, which fails on any
                self.failures.append(f"{project}: {type(exc).__name__}: {exc}")
            await asyncio.sleep(0.1)

    async def _write(self, project: uuid.UUID) -> None:
        key = IdempotencyKey(self._org, self._user, f"join-{uuid.uuid4().hex}", "h")
        command = CreateTask(self._user, {"title": "joining nodes"}, idempotency=key)
        started = time.monotonic()
        while True:
            try:
                reply = await self._router.call(project, "apply", self._org, project, command, key)
                break
            except Exception:  # the host is moving or restarting: retry, same key
                if time.monotonic() - started > WRITE_DEADLINE_S:
                    raise
                await asyncio.sleep(0.2)
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        self.acknowledged[str(project)].append(reply.body["id"])


async def _nodes_of(names: list[str]) -> dict[str, str]:
    """Where each host runs, asked of the actor now registered under its name."""
    handles = {n: ray.get_actor(n, namespace=NAMESPACE) for n in names}
    return {name: (await h.stats.remote())["node"] for name, h in handles.items()}


async def _hosts_answer(names: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await _nodes_of(names)
        except Exception:  # restarting, or being moved
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _respread_until_spread(
    chore: Respreader, names: list[str], writers: Writers
) -> dict[str, Any]:
    """Run the chore's passes until the hosts run on two nodes and every project
    was written since; what it moved (a host that landed off target is moved again).

    Up to four minutes, so that a host landing off target shows as a failed
    assertion on the moves, not as a timeout: the chore retries after pauses of
    1, 2, 4, … s. (When hosts asked Ray for no resource, it placed them on a
    random node: up to eight tries landed on the old node.)
    """
    started = time.monotonic()
    moved: list[str] = []
    while time.monotonic() - started < 240:
        moved += await asyncio.to_thread(chore.once)
        if moved:
            nodes = await _hosts_answer(names, 30)
            if len(set(nodes.values())) == 2:
                took_s = time.monotonic() - started
                await writers.progressed()
                return {
                    "nodes": nodes,
                    "moved": moved,
                    "took_s": took_s,
                    "slowest_write_s": writers.take_slowest(),
                }
        await asyncio.sleep(0.5)
    return {"nodes": await _hosts_answer(names, 30), "moved": moved, "took_s": None}


async def _line() -> str:
    line: str = await asyncio.to_thread(sys.stdin.readline)
    return line.strip()


def _say(message: dict[str, Any]) -> None:
    print(orjson.dumps(message).decode(), flush=True)


async def main(job: dict[str, Any]) -> dict[str, Any]:
    org, user = uuid.UUID(job["org_id"]), uuid.UUID(job["user_id"])
    config = HostConfig(2, job["database_url"], job["redis_url"], pool_size=3)
    names = host_names(config.count)
    router = HostRouter(await asyncio.to_thread(ensure_hosts, config), config)
    chore = Respreader(RespreadConfig(config, interval_s=0.5, settle_s=2.0))
    writers = Writers(router, org, user)
    writers.start([uuid.UUID(p) for p in job["projects"]])
    await writers.progressed(1)  # every project is active, with its epoch taken
    writers.take_slowest()  # first activations are not moves
    _say({"phase": "placed", "nodes": await _nodes_of(names)})

    assert await _line() == "joined"
    _say({"phase": "spread", **await _respread_until_spread(chore, names, writers)})

    assert await _line() == "lost"
    lost_at = time.monotonic()
    nodes = await _hosts_answer(names, 60)
    took_s = time.monotonic() - lost_at
    await writers.progressed()
    _say(
        {
            "phase": "regrouped",
            "nodes": nodes,
            "took_s": took_s,
            "slowest_write_s": writers.take_slowest(),
        }
    )

    assert await _line() == "joined"
    spread = await _respread_until_spread(chore, names, writers)
    await writers.stop()
    return {
        "phase": "done",
        **spread,
        "acknowledged": writers.acknowledged,
        "failures": writers.failures,
    }


if __name__ == "__main__":
    spec = orjson.loads(sys.argv[1])
    ray.init(address=spec["address"], namespace="taskhive-join-node", log_to_driver=False)
    try:
        _say(asyncio.run(main(spec)))
    finally:
        ray.shutdown()
