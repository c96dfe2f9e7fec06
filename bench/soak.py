"""The soak run: a long, steady load at half of the measured maximum, watching memory.

Not run by the test suite. It starts the stack as the product does (embedded
PostgreSQL and Redis), then

1. **calibrates**: a closed loop of `--clients` clients (80 % task reads, 20 %
   task updates) for `--calibrate` seconds; its rate is the maximum;
2. **warms up** at half that rate for `--warmup` seconds, then samples the
   resident memory of every Taskhive process (the reference, measured in this
   same run);
3. **soaks** at half the maximum for `--minutes`, sampling memory every
   `--sample` seconds and counting every non-2xx response or socket error;
4. prints a table and writes `bench/results/soak-<stamp>.{json,md}`; the run
   passes when no request failed and no process kind grew more than 10 % over
   the reference.

    python -m bench.soak                      # 30 minutes, as the issue asks
    python -m bench.soak --minutes 2 --calibrate 10 --warmup 20   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from cluster.settings import Settings
from cluster.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
GROWTH_LIMIT = 0.10
KINDS = {
    "ServeReplica:taskhive:api": "api replica",
    "ProjectHost": "project host",
    "OutboxActor": "outbox relay",
    "HAProxyManager": "haproxy manager",
}


def _free_port() -> int:
    from storage.ports import free_port

    return free_port()


def memory_by_kind(data_dir: Path) -> dict[str, int]:
    """Resident bytes per process kind of this run: Ray actors by title among this
    process's descendants (its Ray), servers by their data dir."""
    totals: dict[str, int] = {}
    ours = {p.pid for p in psutil.Process().children(recursive=True)}
    for proc in psutil.process_iter():
        try:
            cmdline = " ".join(proc.cmdline()) if proc.pid in ours else ""
            kind = next((k for marker, k in KINDS.items() if marker in cmdline), None)
            server = proc.name() in ("postgres", "redis-server")
            if kind is None and server and Path(proc.cwd()).is_relative_to(data_dir):
                kind = proc.name()
            if kind is not None:
                totals[kind] = totals.get(kind, 0) + proc.memory_info().rss
        except (psutil.Error, OSError):
            continue
    return totals


#: Access tokens live 15 minutes: the load refreshes its own well before, as a
#: client of the API would, or a run longer than that would end in 401s.
REFRESH_EVERY_S = 300.0


@dataclass
class Load:
    client: httpx.AsyncClient
    headers: dict[str, str]
    task_ids: list[str]
    refresh_token: str = ""
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    async def keep_fresh(self) -> None:
        """Swap the access token for a new one every `REFRESH_EVERY_S` (forever)."""
        while True:
            await asyncio.sleep(REFRESH_EVERY_S)
            try:
                r = await self.client.post(
                    "/api/v1/auth/refresh", json={"refresh_token": self.refresh_token}
                )
                r.raise_for_status()
            except httpx.HTTPError as exc:
                self._error(f"refresh-{type(exc).__name__}")
                continue
            tokens = r.json()
            self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            self.refresh_token = tokens["refresh_token"]

    async def one(self) -> None:
        task_id = random.choice(self.task_ids)
        try:
            if random.random() < 0.8:
                r = await self.client.get(f"/api/v1/tasks/{task_id}", headers=self.headers)
            else:
                r = await self.client.put(
                    f"/api/v1/tasks/{task_id}",
                    json={"title": f"soak {time.monotonic():.3f}"},
                    headers=self.headers,
                )
        except httpx.HTTPError as exc:
            self._error(type(exc).__name__)
            return
        if r.is_success:
            self.ok += 1
        else:
            self._error(str(r.status_code))

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def seed(client: httpx.AsyncClient, projects: int, tasks: int) -> Load:
    r = await client.post(
        "/api/v1/auth/signup",
        # A fresh account per run: a database kept from an earlier run already has one.
        json={
            "email": f"soak-{uuid.uuid4().hex[:12]}@example.com",
            "name": "Soak",
            "password": "correct horse battery",
        },
    )
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    refresh_token = r.json()["refresh_token"]
    ids: list[str] = []
    for p in range(projects):
        r = await client.post("/api/v1/projects", json={"name": f"Soak {p}"}, headers=headers)
        r.raise_for_status()
        for t in range(tasks):
            created = await client.post(
                "/api/v1/tasks",
                json={"project_id": r.json()["id"], "title": f"task {t}"},
                headers=headers,
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
    return Load(client, headers, ids, refresh_token)


async def closed_loop(load: Load, clients: int, seconds: float) -> float:
    """Requests per second of `clients` back-to-back clients."""
    before = load.ok
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            await load.one()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return (load.ok - before) / (time.monotonic() - started)


async def open_loop(load: Load, rate: float, seconds: float, on_tick: Any = None) -> None:
    """`rate` requests per second for `seconds`, started on schedule whatever the
    latency (bounded: at most 2,000 in flight)."""
    interval = 1.0 / rate
    inflight: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    n = 0
    while (now := time.monotonic()) - started < seconds:
        due = started + n * interval
        if due > now:
            await asyncio.sleep(due - now)
        if len(inflight) < 2000:
            task = asyncio.create_task(load.one())
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        else:
            load._error("client-overload")
        n += 1
        if on_tick is not None:
            on_tick()
    await asyncio.gather(*inflight)


async def soak(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, limits=limits) as client:
        load = await seed(client, args.projects, args.tasks)
        refresher = asyncio.create_task(load.keep_fresh())
        if args.rate:
            # Told the maximum (measured in a quieter moment, or on the target
            # machine): no calibration, so a busy moment cannot lower the target.
            maximum = args.rate / args.fraction
        else:
            print(f"soak: seeded {len(load.task_ids)} tasks; calibrating", flush=True)
            maximum = await closed_loop(load, args.clients, args.calibrate)
        rate = maximum * args.fraction
        load.errors.clear()
        print(f"soak: maximum {maximum:.0f} req/s, soaking at {rate:.0f} req/s", flush=True)
        await open_loop(load, rate, args.warmup)
        reference = memory_by_kind(stack.settings.data_dir)
        samples: list[dict[str, Any]] = [{"t": 0.0, "rss": reference, "ok": load.ok}]
        start = time.monotonic()
        next_sample = start + args.sample

        def tick() -> None:
            nonlocal next_sample
            if time.monotonic() >= next_sample:
                next_sample += args.sample
                samples.append(
                    {
                        "t": round(time.monotonic() - start, 1),
                        "rss": memory_by_kind(stack.settings.data_dir),
                        "ok": load.ok,
                        "errors": sum(load.errors.values()),
                    }
                )
                last = samples[-1]
                print(
                    f"soak: {last['t']:.0f} s, {last['ok']} ok, {last['errors']} errors "
                    f"{load.errors or ''}",
                    flush=True,
                )

        ok_before = load.ok
        await open_loop(load, rate, args.minutes * 60, tick)
        refresher.cancel()
        final = memory_by_kind(stack.settings.data_dir)
        samples.append({"t": round(time.monotonic() - start, 1), "rss": final, "ok": load.ok})
        growth = {
            kind: (final.get(kind, 0) - ref) / ref for kind, ref in reference.items() if ref > 0
        }
        return {
            "started_at": datetime.now(UTC).isoformat(),
            "maximum_rps": round(maximum, 1),
            "soak_rps": round((load.ok - ok_before) / (args.minutes * 60), 1),
            "target_rps": round(rate, 1),
            "minutes": args.minutes,
            "errors": load.errors,
            "reference_rss": reference,
            "final_rss": final,
            "growth": growth,
            "samples": samples,
            "passed": not load.errors and all(g <= GROWTH_LIMIT for g in growth.values()),
        }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Soak run, {result['started_at']}",
        "",
        f"{result['minutes']} minutes at {result['target_rps']} req/s target "
        f"({result['soak_rps']} achieved), half of the {result['maximum_rps']} req/s "
        "measured in the same run (80 % GET task, 20 % PUT task).",
        "",
        "| process kind | RSS after warm-up MiB | RSS at end MiB | growth | limit |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, ref in sorted(result["reference_rss"].items()):
        end = result["final_rss"].get(kind, 0)
        growth = result["growth"].get(kind, 0.0)
        lines.append(
            f"| {kind} | {ref / 2**20:.0f} | {end / 2**20:.0f} | {growth:+.1%} | "
            f"{GROWTH_LIMIT:.0%} |"
        )
    lines += ["", f"Errors: {result['errors'] or 'none'}. Passed: {result['passed']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fraction", type=float, default=0.5, help="of the maximum rate")
    parser.add_argument("--calibrate", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="soak at this many req/s (skips calibration)"
    )
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=50, help="per project")
    args = parser.parse_args(argv)
    result = on_stack("soak", lambda stack: soak(args, stack))
    save("soak", result, markdown(result))
    return 0 if result["passed"] else 1


def on_stack(
    name: str, run: Callable[[Stack], Coroutine[Any, Any, dict[str, Any]]]
) -> dict[str, Any]:
    """`run` against a stack started as the product starts it (embedded PostgreSQL
    and Redis in a fresh data dir, two hosts), stopped afterwards whatever happens."""
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix=f"taskhive-{name}-")),
        port=_free_port(),
        hosts=2,
        rate_limit_per_min=100_000_000,  # one user drives all the load
    )
    stack = Stack(settings)
    try:
        stack.start_storage()
        stack.start_compute()
        return asyncio.run(run(stack))
    finally:
        stack.stop()


def save(name: str, result: dict[str, Any], text: str) -> None:
    """Write `bench/results/<name>-<stamp>.json` and `.md`, and print the text."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-{stamp}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (RESULTS / f"{name}-{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
