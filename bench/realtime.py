"""The real-time benchmark: many websocket sessions, a steady write rate, and the
latency from sending a write to its delivery at every subscribed client (so it
includes the write itself, whose own latency is reported beside it).

What runs where, all on one machine:

- the stack, started here as the product starts it: Ray with one API replica
  (`ServeReplica`), the project hosts, the outbox relay, the search shards, and
  embedded PostgreSQL and Redis;
- the listener: `bench/realtime_listener.mjs`, a separate Node process (Node 20's
  built-in `WebSocket`, no npm package) that opens the sessions, spread over 10
  projects, and records when each `task.updated` event arrives;
- the writer: `bench/realtime_writer.py`, a process of its own that drives PUTs
  at a fixed rate with aiohttp;
- the driver: this process, which started the stack and so hosts Ray's driver.

Why a separate writer: the driver's process carries Ray's client threads, and
writes issued from it with httpx cost ~80 % of a core at 90 writes/s and queued
for seconds (`realtime-20261130T032503Z`, kept for the record). Why a separate
Node process: at 1,000 sessions and ~60 writes/s the sessions
receive ~6,000 messages/s, and a Python asyncio client (the `websockets` library)
in the writer's process cannot receive that many on a 2-core machine shared with
the server: that process sat at ~94 % of a core while the API replica was at ~30 %,
and its event-loop lag inflated both the write and the delivery latencies. Out of
the writer's process the listener no longer delays the writes and can use the
other core; Node's built-in client needs no npm package. Per message it is not
much cheaper than Python's: on a synthetic 5,000 messages/s over 100 sessions it
cost ~30 µs a message without compression (which the server declines unless
`TASKHIVE_WS_COMPRESSION` is set) and ~65 µs with permessage-deflate, where
inflating is most of the work. `--listener-procs` spreads the
sessions over several Node processes; `--listener python` keeps the old in-process
client, to compare.

Every write's title is `t=<send time>:<sequence>`, the send time from
`time.monotonic_ns()`; the listener stamps arrivals with `process.hrtime.bigint()`.
Both read CLOCK_MONOTONIC on Linux, so they subtract. Each row also says how much
CPU (% of one core) the listener, the writer and the stack's processes used during
the writes, so a reader can see who was saturated.

Steps the session count up until the after-ack p99 passes the target, so the table
also shows how many sessions one API replica holds.

    python -m bench.realtime                       # 250 → 2,000 sessions, 200 writes/s
    python -m bench.realtime --steps 100,200 --seconds 5
    python -m bench.realtime --steps 50 --rate 10 --seconds 5 --listener python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import cpu, profile, steps
from bench.realtime_writer import title_send_ns
from cluster.settings import Settings
from cluster.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
LISTENER_JS = Path(__file__).resolve().parent / "realtime_listener.mjs"
TARGET_P99_MS = 100.0
DRAIN_S = 2.0  # after the last write, for the last deliveries to arrive

#: Process roles whose CPU each row reports, in table order.
CPU_ROLES = (
    "listener",
    "writer",
    "driver",
    "api replica",
    "realtime replica",
    "project hosts",
    "outbox",
    "search",
    "postgres",
    "redis",
    "proxy",
    "other",
)


def _free_port() -> int:
    from storage.ports import free_port

    return free_port()


def _replica_rss() -> int:
    """Resident bytes of this run's replicas that hold the sessions: the realtime
    deployment's, else the API's (descendants of this process: another stack on
    the machine has replicas too)."""
    by_kind: dict[str, int] = {"realtime": 0, "api": 0}
    for p in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(p.cmdline())
            if "ServeReplica:taskhive-realtime:" in cmdline:
                by_kind["realtime"] += p.memory_info().rss
            elif "ServeReplica:taskhive:api" in cmdline:
                by_kind["api"] += p.memory_info().rss
        except psutil.Error:
            continue
    return by_kind["realtime"] or by_kind["api"]


# --- pure helpers (tests/unit/test_bench_realtime.py) ---------------------------


def parse_deliveries(text: str) -> list[tuple[str, int]]:
    """The listener's output, one `<title>\\t<receive ns>` line per delivery."""
    out: list[tuple[str, int]] = []
    for line in text.splitlines():
        if line:
            title, _, at = line.rpartition("\t")
            out.append((title, int(at)))
    return out


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile (`p` in 0…100) of sorted values, as `bench.steps`
    computes it, but NaN when there are none (shown as such in the table)."""
    return steps.percentile(ordered, p) if ordered else math.nan


def expected_deliveries(
    writes_by_project: Counter[str], projects: Sequence[str], sessions: int
) -> int:
    """How many deliveries the writes make: session i watches projects[i % len(projects)]."""
    watching = Counter(projects[i % len(projects)] for i in range(sessions))
    return sum(n * watching[p] for p, n in writes_by_project.items())


def latency_fields(
    deliveries: Iterable[tuple[str, int]], acked: dict[str, int], expected: int
) -> dict[str, Any]:
    """The row's delivery fields from (title, receive ns) pairs and title → ack ns."""
    ms: list[float] = []
    lag: list[float] = []
    for title, at in deliveries:
        ms.append((at - title_send_ns(title)) / 1e6)
        if title in acked:
            # Fan-out lag: how long after the writer got its acknowledgement a session
            # got the event (0 when the event arrived first, which is common).
            lag.append(max(0, at - acked[title]) / 1e6)
    ms.sort()
    lag.sort()
    return {
        "deliveries": len(ms),
        "delivery_ratio": round(len(ms) / expected, 4) if expected else 0.0,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "after_ack_p50_ms": round(percentile(lag, 50), 1),
        "after_ack_p99_ms": round(percentile(lag, 99), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else math.nan,
    }


def cpu_role(label: str) -> str:
    """The role (one of CPU_ROLES) of a process `bench.cpu` labelled `label`."""
    if label == "bench driver":
        return "driver"
    for marker, role in (
        ("ServeReplica:taskhive-realtime", "realtime replica"),
        ("ServeReplica", "api replica"),
        ("ProjectHost", "project hosts"),
        ("OutboxActor", "outbox"),
        ("SearchShard", "search"),
        ("ProxyActor", "proxy"),
        ("HAProxy", "proxy"),
    ):
        if marker in label:
            return role
    if label.startswith("postgres"):
        return "postgres"
    if label.startswith("redis"):
        return "redis"
    if label == "haproxy":
        return "proxy"
    return "other"


def cpu_by_role(
    before: cpu.Snapshot, after: cpu.Snapshot, listener_pids: set[int], writer_pid: int = 0
) -> dict[str, Any]:
    """CPU between two snapshots by role, % of one core; the listener is None when
    it runs inside the driver (`--listener python`). `other_by_process` names what
    "other" was (Ray's own processes, the HTTP proxy, …)."""
    wall = max(after.at - before.at, 1e-9)
    used: dict[str, float] = dict.fromkeys(CPU_ROLES, 0.0)
    other: dict[str, float] = {}
    for pid, (label, seconds) in after.ours.items():
        if pid in listener_pids:
            role = "listener"
        elif pid == writer_pid:
            role = "writer"
        else:
            role = cpu_role(label)
        delta = seconds - before.ours.get(pid, (label, 0.0))[1]
        used[role] += delta
        if role == "other":
            other[label] = other.get(label, 0.0) + delta
    out: dict[str, Any] = {k: round(100 * v / wall, 1) for k, v in used.items()}
    if not listener_pids:
        out["listener"] = None
    totals = cpu.usage(before, after)
    out["machine"] = totals["machine_busy_pct"]
    out["foreign"] = totals["foreign_pct"]
    out["other_by_process"] = {
        k: round(100 * v / wall, 1)
        for k, v in sorted(other.items(), key=lambda kv: -kv[1])
        if v / wall >= 0.005
    }
    return out


# --- listeners -------------------------------------------------------------------


class Listener(Protocol):
    pids: set[int]

    async def start(self) -> None: ...

    async def stop(self) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        """Deliveries (title, receive monotonic ns) and a summary."""
        ...

    async def abort(self) -> None:
        """End whatever `stop` did not (after an error); harmless after `stop`."""
        ...


class NodeListener:
    """`realtime_listener.mjs` in `procs` Node processes, sessions split between them."""

    def __init__(
        self, url: str, token: str, projects: list[str], sessions: int, procs: int, work: Path
    ) -> None:
        self.url, self.token, self.projects = url, token, projects
        self.sessions, self.procs, self.work = sessions, max(1, min(procs, sessions)), work
        self.children: list[tuple[asyncio.subprocess.Process, Path]] = []
        self.pids: set[int] = set()

    async def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node (>= 20) is not on PATH; or use --listener python")
        first = 0
        for k in range(self.procs):
            count = self.sessions // self.procs + (k < self.sessions % self.procs)
            out = self.work / f"deliveries-{k}.tsv"
            config = {
                "url": self.url,
                "token": self.token,
                "projects": self.projects,
                "sessions": count,
                "first": first,
                "out": str(out),
            }
            first += count
            proc = await asyncio.create_subprocess_exec(
                *(node, "--experimental-websocket", "--no-warnings", str(LISTENER_JS)),
                json.dumps(config),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self.children.append((proc, out))
            self.pids.add(proc.pid)
        timeout = 60 + 0.05 * self.sessions
        for proc, _ in self.children:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            if line.strip() != b"ready":
                raise RuntimeError(f"listener {proc.pid} said {line!r} (exit {proc.returncode})")

    async def stop(self) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        deliveries: list[tuple[str, int]] = []
        summary: dict[str, Any] = {"processes": len(self.children)}
        for proc, _ in self.children:
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
        for proc, out in self.children:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            code = await asyncio.wait_for(proc.wait(), 30)
            if code != 0 or not line:
                raise RuntimeError(f"listener {proc.pid} exited {code} after stop")
            part: dict[str, Any] = json.loads(line)
            for key, value in part.items():
                if isinstance(value, dict):  # closes: code → count
                    merged = summary.setdefault(key, {})
                    for code_, n in value.items():
                        merged[code_] = merged.get(code_, 0) + n
                elif isinstance(value, int):
                    summary[key] = summary.get(key, 0) + value
                else:  # extensions: the same in every process
                    summary.setdefault(key, value)
            deliveries.extend(parse_deliveries(out.read_text()))
        return deliveries, summary

    async def abort(self) -> None:
        for proc, _ in self.children:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


class PythonListener:
    """The sessions in this process, with the `websockets` library (the old way)."""

    def __init__(self, url: str, token: str, projects: list[str], sessions: int) -> None:
        self.url, self.token, self.projects, self.sessions = url, token, projects, sessions
        self.deliveries: list[tuple[str, int]] = []
        self.conns: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.closes: Counter[str] = Counter()
        self.stopping = False
        self.pids: set[int] = set()  # none of its own: it is the writer's process

    async def _session(self, project_id: str) -> None:
        conn = await connect(
            self.url,
            subprotocols=["taskhive", f"bearer.{self.token}"],  # type: ignore[list-item]
            max_size=None,
        )
        await conn.send(orjson.dumps({"type": "subscribe", "project_id": project_id}).decode())
        deliveries = self.deliveries

        async def read() -> None:
            try:
                async for raw in conn:
                    message = orjson.loads(raw)
                    if message.get("type") == "event" and message.get("event") == "task.updated":
                        title = message["payload"]["changes"].get("title", "")
                        if title.startswith("t="):
                            deliveries.append((title, time.monotonic_ns()))
            except ConnectionClosed:
                pass
            if not self.stopping:
                self.closes[str(conn.close_code)] += 1

        self.conns.append(conn)
        self.readers.append(asyncio.get_running_loop().create_task(read()))

    async def start(self) -> None:
        for i in range(self.sessions):
            await self._session(self.projects[i % len(self.projects)])
        await asyncio.sleep(1.0)  # for the subscriptions to be answered

    async def stop(self) -> tuple[list[tuple[str, int]], dict[str, Any]]:
        self.stopping = True
        for conn in self.conns:
            await conn.close()
        await asyncio.gather(*self.readers, return_exceptions=True)
        summary = {
            "sessions": self.sessions,
            "opened": len(self.conns),
            "deliveries": len(self.deliveries),
            "closes": dict(self.closes),
            "extensions": self.conns[0].response.headers.get("Sec-WebSocket-Extensions")
            if self.conns and self.conns[0].response
            else None,
        }
        return self.deliveries, summary

    async def abort(self) -> None:
        self.stopping = True
        for conn in self.conns:
            await conn.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


# --- one step --------------------------------------------------------------------


async def _step(
    base: str,
    token: str,
    projects: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    sessions: int,
    args: argparse.Namespace,
    marker: str,
) -> dict[str, Any]:
    url = base.replace("http://", "ws://") + "/api/v1/ws"
    project_ids = [p["id"] for p in projects]
    with tempfile.TemporaryDirectory(prefix="rt-listener-") as tmp:
        listener: Listener
        if args.listener == "node":
            procs = args.listener_procs
            listener = NodeListener(url, token, project_ids, sessions, procs, Path(tmp))
        else:
            listener = PythonListener(url, token, project_ids, sessions)
        try:
            row = await _measure(base, token, project_ids, tasks, sessions, args, marker, listener)
        finally:
            await listener.abort()
    return row


async def _measure(
    base: str,
    token: str,
    project_ids: list[str],
    tasks: list[dict[str, Any]],
    sessions: int,
    args: argparse.Namespace,
    marker: str,
    listener: Listener,
) -> dict[str, Any]:
    rss_before = _replica_rss()
    await listener.start()
    await asyncio.sleep(1.0)
    rss_after = _replica_rss()
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.realtime_writer",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 28,  # the result is one line: every acknowledged title
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        if (await writer.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the writer process did not start")
        spec = {"base": base, "token": token, "tasks": tasks, "rate": args.rate}
        profiler, profiles = None, None
        if args.profile and sessions == args.steps[-1]:
            profiler = profile.Profiler(Path(tempfile.mkdtemp(prefix="rt-profile-")))
            profiler.start(profile.descendant_actors())
        before = cpu.snapshot(marker)
        writer.stdin.write(orjson.dumps({**spec, "seconds": args.seconds}) + b"\n")
        await writer.stdin.drain()
        result = orjson.loads(await writer.stdout.readline())
        after = cpu.snapshot(marker)  # CPU over the writes, not over the idle drain
        if profiler is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            profiles = profiler.keep(args.out / f"realtime-{stamp}-profile-{sessions}")
        writer.stdin.close()
    finally:
        if writer.returncode is None:
            writer.kill()
        await writer.wait()
    acked: dict[str, int] = result["acked"]
    written = Counter[str](result["written"])
    failed, sent, elapsed = result["failed"], result["sent"], result["elapsed_s"]
    write_ms = sorted(result["write_ms"])
    await asyncio.sleep(DRAIN_S)  # let the last deliveries arrive
    deliveries, summary = await listener.stop()
    if summary.get("failed") or summary.get("closes") or summary.get("errors"):
        print(f"listener trouble at {sessions} sessions: {summary}", file=sys.stderr, flush=True)
    return {
        "sessions": sessions,
        "listener": args.listener,
        "realtime_replicas": args.realtime_replicas,
        "writes_per_s": round((sent - failed) / elapsed, 1),
        "write_errors": failed,
        **latency_fields(deliveries, acked, expected_deliveries(written, project_ids, sessions)),
        "write_p50_ms": round(percentile(write_ms, 50), 1),
        "write_p99_ms": round(percentile(write_ms, 99), 1),
        "replica_kib_per_session": round((rss_after - rss_before) / 1024 / sessions, 1),
        "cpu_pct": cpu_by_role(before, after, listener.pids, writer.pid),
        "listener_summary": summary,
        **({"profile": profiles} if profiles is not None else {}),
    }


async def _run(stack: Stack, args: argparse.Namespace) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        signup = await http.post(
            "/api/v1/auth/signup",
            json={"email": "rt@bench.example", "name": "Bench", "password": "benchmark!"},
        )
        token = signup.json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        projects = [
            (await http.post("/api/v1/projects", json={"name": f"Realtime {i}"})).json()
            for i in range(10)
        ]
        tasks = [
            (await http.post("/api/v1/tasks", json={"project_id": p["id"], "title": "x"})).json()
            for p in projects
            for _ in range(20)
        ]
    marker = str(stack.settings.data_dir)
    rows = []
    for sessions in args.steps:
        row = await _step(stack.url, token, projects, tasks, sessions, args, marker)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
        if row["after_ack_p99_ms"] > TARGET_P99_MS:
            break
    return rows


def _pct_cell(value: float | None) -> str:
    return "in driver" if value is None else f"{value:.0f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The latency table, then the CPU table (% of one core during the writes)."""
    header = (
        "| sessions | writes/s | write→delivery p50 ms | write→delivery p99 ms "
        "| after-ack p50 ms | after-ack p99 ms | write p50 ms | write p99 ms "
        "| delivered | KiB/session (replica) | write errors |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['sessions']:,} | {r['writes_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['after_ack_p50_ms']} | {r['after_ack_p99_ms']} | {r['write_p50_ms']} | "
            f"{r['write_p99_ms']} | {r['delivery_ratio']:.2%} | "
            f"{r['replica_kib_per_session']} | {r['write_errors']} |"
        )
    columns = [*CPU_ROLES, "machine", "foreign"]
    lines += [
        "",
        "CPU during the writes, % of one core (machine: all processes; foreign: not this run's):",
        "",
        "| sessions | " + " | ".join(columns) + " |",
        "|---:|" + "---:|" * len(columns),
    ]
    for r in rows:
        cells = [_pct_cell(r["cpu_pct"].get(c)) for c in columns]
        lines.append(f"| {r['sessions']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--steps",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[250, 500, 1000, 1500, 2000],
    )
    parser.add_argument("--rate", type=int, default=200, help="writes per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per step")
    parser.add_argument(
        "--listener",
        choices=["node", "python"],
        default="node",
        help="node: realtime_listener.mjs in its own process(es); python: in this process",
    )
    parser.add_argument(
        "--listener-procs", type=int, default=1, help="Node listener processes (node only)"
    )
    parser.add_argument(
        "--realtime-replicas",
        type=int,
        default=1,
        help="replicas of the websocket deployment; 0: the API replica holds the sessions",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of the stack's actors during the last step's writes",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    args = parser.parse_args(argv)
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="taskhive-rt-bench-")),
        port=_free_port(),
        hosts=2,
        realtime_replicas=args.realtime_replicas,
        rate_limit_per_min=100_000_000,  # one benchmark user drives all the load
    )
    stack = Stack(settings)
    try:
        stack.start_storage()
        stack.start_compute()
        rows = asyncio.run(_run(stack, args))
    finally:
        stack.stop()
    table = markdown(rows)
    print(table)
    if args.listener == "node":
        clients = f"sessions in {args.listener_procs} Node listener process(es)"
    else:
        clients = "sessions in the writer's Python process"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"realtime-{stamp}.md").write_text(
        f"# Real-time benchmark {stamp}\n\n{args.rate} writes/s over 10 projects, "
        f"{args.seconds:.0f} s per step, target p99 {TARGET_P99_MS:.0f} ms, one API replica, "
        f"{args.realtime_replicas or 'no'} websocket replica(s), "
        f"listener `{args.listener}` ({clients}), all on the same machine.\n\n{table}\n"
    )
    (args.out / f"realtime-{stamp}.json").write_bytes(
        orjson.dumps(rows, option=orjson.OPT_INDENT_2)
    )


if __name__ == "__main__":
    main()
