"""The real-time benchmark's writer, in a process of its own.

`bench.realtime` starts the stack, which makes its own process the Ray driver:
Ray's client threads then share that process's GIL with whatever else runs there.
Issuing the writes from there cost ~80 % of a core at 90 writes/s and delayed them
by seconds, so the writes come from this process instead, which imports nothing of
Ray and sends with aiohttp (an HTTP/1.1 keep-alive pool; a fraction of httpx's CPU
per request).

It prints `ready` once its imports are done, then reads one JSON object, a line
on stdin: `base` (the API's URL), `token`, `tasks` (objects
with `id` and `project_id`), `rate` (writes/s) and `seconds`. Each write is a PUT of
the task's title `t=<send time>:<sequence>` (`make_title`), the send
time from CLOCK_MONOTONIC, so the listener's arrival stamps subtract from it.
Output, one JSON object on stdout: `acked` (title → acknowledgement monotonic ns),
`written` (acknowledged writes per project), `write_ms` (each acknowledged write's
latency), `sent`, `failed` and `elapsed_s`; then it exits when stdin closes, so the
caller can read its CPU time first.

    echo '{"base": ..., "token": ..., "tasks": [...], "rate": 200, "seconds": 15}' \\
        | python -m bench.realtime_writer   # prints ready, then the result
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson

#: Connections to the API at most: enough for the rate at a few hundred ms of latency.
MAX_CONNECTIONS = 64


def make_title(send_ns: int, seq: int) -> str:
    """A title carrying its send time, which the listener reads back."""
    return f"t={send_ns}:{seq}"


def title_send_ns(title: str) -> int:
    """The send time (`time.monotonic_ns()`) a `make_title` title carries."""
    if not title.startswith("t="):
        raise ValueError(f"not a benchmark title: {title!r}")
    return int(title[2:].split(":", 1)[0])


async def write(spec: dict[str, Any]) -> dict[str, Any]:
    base, rate, seconds = spec["base"], int(spec["rate"]), float(spec["seconds"])
    tasks: list[dict[str, Any]] = spec["tasks"]
    acked: dict[str, int] = {}
    written: Counter[str] = Counter()
    write_ms: list[float] = []
    sent = failed = 0
    headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base_url=base, headers=headers, connector=connector, timeout=timeout
    ) as http:

        async def put(task: dict[str, Any], seq: int) -> None:
            nonlocal failed
            t0 = time.monotonic_ns()
            title = make_title(t0, seq)
            try:
                async with http.put(
                    f"/api/v1/tasks/{task['id']}", data=orjson.dumps({"title": title})
                ) as r:
                    await r.read()
                    ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if not ok:
                failed += 1
                return
            acked[title] = done = time.monotonic_ns()
            written[task["project_id"]] += 1
            write_ms.append((done - t0) / 1e6)

        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        now = started
        while (now := time.monotonic()) - started < seconds:
            job = asyncio.create_task(put(random.choice(tasks), sent))
            pending.add(job)
            job.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await asyncio.gather(*pending)
        elapsed = now - started
    return {
        "acked": acked,
        "written": dict(written),
        "write_ms": write_ms,
        "sent": sent,
        "failed": failed,
        "elapsed_s": elapsed,
    }


def main() -> None:
    print("ready", flush=True)
    spec = orjson.loads(sys.stdin.buffer.readline())
    result = asyncio.run(write(spec))
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # stay until told: the caller measures this process's CPU


if __name__ == "__main__":
    main()
