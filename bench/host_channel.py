"""CPU per call from a replica to a project host: Ray's actor call against the host
channel (`storage.channel`), on the same actor, in one run.

    python -m bench.host_channel [--calls 6000] [--concurrency 30]

An actor answers a read shaped like `get_task_json` (three ids in, a version and
600 bytes out) through both paths. Each path is timed over the same number of
calls, issued `--concurrency` at a time; CPU is process time (all threads, so
Ray's own threads count) of the caller and of the actor. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import ray

from actors.host import CHANNEL_METHODS
from storage.channel import Channel, ChannelServer

BODY = b"x" * 600


class _Host:
    """A host reduced to one read, reachable both ways."""

    def __init__(self) -> None:
        self._server = ChannelServer(self._dispatch, CHANNEL_METHODS)

    async def _dispatch(self, method: str, context: tuple[str, str], args: tuple[Any, ...]) -> Any:
        return await getattr(self, method)(*args)

    async def get_task_json(self, *_ids: uuid.UUID) -> tuple[int, bytes]:
        return 7, BODY

    async def invoke(self, method: str, context: tuple[str, str], *args: Any) -> Any:
        return await getattr(self, method)(*args)

    async def channel_address(self) -> tuple[str, int, bytes]:
        return await self._server.start(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]

    def cpu(self) -> float:
        return time.process_time()


async def _measure(
    label: str, call: Any, cpu_of_actor: Any, calls: int, concurrency: int
) -> dict[str, Any]:
    for _ in range(50):
        await call()
    actor_before = await cpu_of_actor()
    caller_before, wall_before = time.process_time(), time.perf_counter()
    for _ in range(calls // concurrency):
        await asyncio.gather(*(call() for _ in range(concurrency)))
    wall = time.perf_counter() - wall_before
    caller = time.process_time() - caller_before
    actor = await cpu_of_actor() - actor_before
    done = calls // concurrency * concurrency
    return {
        "path": label,
        "calls": done,
        "caller_us": round(1e6 * caller / done, 1),
        "actor_us": round(1e6 * actor / done, 1),
        "calls_per_s": round(done / wall),
    }


async def _run(calls: int, concurrency: int) -> list[dict[str, Any]]:
    host: Any = ray.remote(_Host).options(max_concurrency=1000).remote()
    ids = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    channel = await Channel.open(await host.channel_address.remote())
    context = ("request-id", "")

    async def through_ray() -> Any:
        return await host.invoke.remote("get_task_json", context, *ids)

    async def through_channel() -> Any:
        return await channel.call("get_task_json", context, ids)

    async def actor_cpu() -> float:
        cpu: float = await host.cpu.remote()
        return cpu

    rows = []
    for _ in range(2):  # interleaved, twice: the second pair is what counts
        rows = [
            await _measure(
                "Ray actor call (reference)", through_ray, actor_cpu, calls, concurrency
            ),
            await _measure("host channel", through_channel, actor_cpu, calls, concurrency),
        ]
    channel.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=6000)
    p.add_argument("--concurrency", type=int, default=30)
    args = p.parse_args(argv)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        rows = asyncio.run(_run(args.calls, args.concurrency))
    finally:
        ray.shutdown()
    reference = rows[0]
    lines = [
        f"{args.calls} calls shaped like `get_task_json`, {args.concurrency} at a time.",
        "",
        "| path | caller CPU µs/call | actor CPU µs/call | calls/s | CPU vs reference |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        total = row["caller_us"] + row["actor_us"]
        ratio = total / (reference["caller_us"] + reference["actor_us"])
        lines.append(
            f"| {row['path']} | {row['caller_us']:,.0f} | {row['actor_us']:,.0f} "
            f"| {row['calls_per_s']:,} | {ratio:.3f} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
