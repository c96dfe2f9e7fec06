"""The durable-write benchmark: acknowledged task updates per second, Taskhive against the monolith.

Starts the stack as the product does (`cluster.stack.Stack`, embedded PostgreSQL
and Redis unless TASKHIVE_DATABASE_URL / TASKHIVE_REDIS_URL are set), seeds 100
projects (`bench/seed.py`), activates every grain, then drives `PATCH
/api/v1/tasks/{id}` `{"title": …}` with wrk (one thread, keep-alive, the cheapest
client here) at increasing connection counts, in two shapes:

- `spread`: a random task of any of the projects;
- `hot`: a random task of the first project only.

Each step reports acknowledged (2xx) writes/s, p50/p99, errors and the CPU the
target used per write, and then checks that every acknowledged write is in
PostgreSQL at least at the version its response returned (wrk's script keeps the
newest version per task). Between steps the outbox relay is given time to catch
up, so one step's backlog does not eat the next one's CPU (the time it needed is
reported). The reference, measured in the same run on the same tables: the
monolith (`bench/monolith_app.py`, 2 uvicorn workers, one transaction per write).

A shape's best rate, the one set against the target and the monolith, counts
only steps within the brief's p99 limit for writes (500 ms), without errors and
with every acknowledged write found.

Prints a table and writes `bench/results/writes-<UTC>.{md,json}`.

    python -m bench.writes --quick                        # ~3 minutes
    python -m bench.writes                                # longer steps, more of them
    python -m bench.writes --quick --host-group-commit off  # grains commit alone
    python -m bench.writes --quick --profile   # py-spy on the actors in the last spread step
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from actors import host_commit
from bench import cpu, profile, report, seed, steps
from bench.mixed import start_app, verify_writes
from bench.mixed_report import _table
from bench.run import stop_process
from bench.wrk import WrkResult, WrkTarget, ensure_wrk, run_wrk, wrk_version
from cluster.settings import Settings
from cluster.stack import Stack
from storage.ports import free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
#: The performance targets (acknowledged task updates per second).
TARGETS = {"spread": 1500, "hot": 500}
_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[writes {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Taskhive durable-write benchmark (wrk, PATCH)")
    p.add_argument("--quick", action="store_true", help="short steps, fewer of them (≤ 3 min)")
    p.add_argument("--projects", type=int, default=100)
    p.add_argument("--tasks", type=int, help="tasks per project (default 100; quick 20)")
    p.add_argument("--connections", help="wrk connections per step, comma-separated")
    p.add_argument("--seconds", type=int, help="seconds per step (default 20; quick 8)")
    p.add_argument("--shapes", default="spread,hot")
    p.add_argument("--targets", default="taskhive,monolith", help="in this order")
    p.add_argument(
        "--host-group-commit",
        choices=("on", "off"),
        default="on",
        help="hosts combine their grains' commits (on, the default) or each grain "
        "commits alone (off: the code path before combined commits)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        help="after a Taskhive step, wait at most this long for the outbox relay "
        "(default 60; quick 20)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of the stack's actors during Taskhive's last spread "
        "step (that step's numbers then include py-spy's cost)",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    a = p.parse_args(argv)
    a.tasks = a.tasks or (20 if a.quick else 100)
    a.connections = [
        int(x) for x in (a.connections or ("32,128" if a.quick else "16,64,128,256")).split(",")
    ]
    a.seconds = a.seconds or (8 if a.quick else 20)
    a.drain_timeout = a.drain_timeout if a.drain_timeout is not None else (20 if a.quick else 60)
    a.shapes = [s for s in a.shapes.split(",") if s]
    a.targets = [t for t in a.targets.split(",") if t]
    if set(a.shapes) - set(TARGETS) or set(a.targets) - {"taskhive", "monolith"}:
        p.error("shapes are spread,hot; targets are taskhive,monolith")
    return a


async def outbox_lag(database_url: str, org_id: UUID) -> int:
    """Events of the organisation's projects that some outbox consumer has not handled."""
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        lag = await conn.fetchval(
            "SELECT coalesce(sum(p.version - coalesce(o.version, 0)), 0) FROM projects p "
            "CROSS JOIN (SELECT DISTINCT consumer FROM consumer_offsets) c "
            "LEFT JOIN consumer_offsets o ON o.project_id = p.id AND o.consumer = c.consumer "
            "WHERE p.org_id = $1 AND p.deleted_at IS NULL",
            org_id,
        )
        return int(lag)
    finally:
        await conn.close()


def wait_drained(database_url: str, org_id: UUID, timeout_s: float) -> dict[str, Any]:
    started = time.monotonic()
    lag = asyncio.run(outbox_lag(database_url, org_id))
    behind = lag
    while lag and time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        lag = asyncio.run(outbox_lag(database_url, org_id))
    return {
        "events_behind": behind,
        "drain_s": round(time.monotonic() - started, 1),
        "left": lag,
    }


def read_acked(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    acked: dict[str, int] = {}
    for line in path.read_text().splitlines():
        task_id, _, version = line.partition(" ")
        if task_id:
            acked[task_id] = int(version)
    return acked


def target_cpu_pct(target: str, used: dict[str, Any]) -> float:
    """The target's own CPU: for Taskhive everything of this run but wrk and the
    driver; for the monolith its Python workers and PostgreSQL."""
    by_label: dict[str, float] = used["ours_by_process_pct"]
    if target == "monolith":
        return sum(v for k, v in by_label.items() if k in ("python", "postgres"))
    return sum(v for k, v in by_label.items() if k not in ("wrk", "bench driver"))


_FAMILIES = {
    "taskhive_group_commit_batch_size": "commands_per_grain_batch",
    "taskhive_host_commit_projects": "projects_per_host_transaction",
}


def commit_counters(url: str) -> dict[str, float]:
    """`<family>_sum` and `_count` of the commit histograms, over all hosts."""
    sums: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if any(name in (f"{f}_sum", f"{f}_count") for f in _FAMILIES):
            sums[name] = sums.get(name, 0.0) + float(line.rpartition(" ")[2])
    return sums


def commit_means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Commands per grain batch and projects per host transaction between two reads."""
    out: dict[str, float] = {}
    for family, label in _FAMILIES.items():
        count = after.get(f"{family}_count", 0.0) - before.get(f"{family}_count", 0.0)
        total = after.get(f"{family}_sum", 0.0) - before.get(f"{family}_sum", 0.0)
        out[label] = round(total / count, 2) if count else 0.0
    return out


def run_step(
    wrk: str,
    target: str,
    url: str,
    shape: str,
    ids_file: Path,
    connections: int,
    args: argparse.Namespace,
    context: dict[str, Any],
) -> dict[str, Any]:
    work: Path = context["work"]
    acked_file = work / f"acked-{target}-{shape}-{connections}.txt"
    spec = WrkTarget(
        url,
        "PATCH",
        "/api/v1/tasks/",
        ids_file,
        body="title",
        headers=context["headers"],
        acked_file=acked_file,
    )
    before = cpu.snapshot(str(work))
    result: WrkResult = run_wrk(
        wrk,
        spec,
        work / "patch.lua",
        duration_s=args.seconds,
        threads=1,
        connections=connections,
        timeout_s=10,
    )
    used = cpu.usage(before, cpu.snapshot(str(work)))
    acked = read_acked(acked_file)
    checked = asyncio.run(verify_writes(context["database_url"], steps.Acknowledged(tasks=acked)))
    per_s = result.ok / result.duration_s if result.duration_s else 0.0
    own = target_cpu_pct(target, used)
    row = {
        "target": target,
        "shape": shape,
        "connections": connections,
        "acked_per_s": round(per_s, 1),
        "p50_ms": round(result.p50_ms, 1),
        "p99_ms": round(result.p99_ms, 1),
        "errors": result.errors,
        "first_error": result.first_error[:300],
        "cpu_pct": round(own, 1),
        "cpu_ms_per_write": round(own * 10 * result.duration_s / result.ok, 2)
        if result.ok
        else None,
        "foreign_pct": used["foreign_pct"],
        "cpu_by_process_pct": used["ours_by_process_pct"],
        "verification": checked,
        "wrk": result.as_json() | {"wrk_output": None},
    }
    log(
        f"{target} {shape} c={connections}: {per_s:,.0f} acked/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, errors {result.errors}, CPU {own:.0f}% "
        f"({cpu.summary(used)}), verified: {checked['every_acknowledged_write_committed']}"
    )
    return row


COLUMNS = (
    "target",
    "shape",
    "conns",
    "acked writes/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "CPU ms/write",
    "foreign CPU %",
    "all acked in PG",
    "outbox behind",
    "cmds/batch, projects/txn",
    "÷ monolith",
)


def table_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    monolith = {
        (r["shape"], r["connections"]): r["acked_per_s"] for r in rows if r["target"] == "monolith"
    }
    out: list[tuple[str, ...]] = []
    for r in rows:
        ref = monolith.get((r["shape"], r["connections"]))
        ratio = f"{r['acked_per_s'] / ref:.2f}" if ref and r["target"] != "monolith" else "—"
        drain = r.get("outbox")
        commits = r.get("commits")
        out.append(
            (
                r["target"],
                r["shape"],
                str(r["connections"]),
                f"{r['acked_per_s']:,.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['errors']:,}",
                "—" if r["cpu_ms_per_write"] is None else f"{r['cpu_ms_per_write']:.2f}",
                f"{r['foreign_pct']:.0f}",
                "yes" if r["verification"]["every_acknowledged_write_committed"] else "NO",
                f"{drain['events_behind']:,} ({drain['drain_s']} s)" if drain else "—",
                f"{commits['commands_per_grain_batch']}, {commits['projects_per_host_transaction']}"
                if commits
                else "—",
                ratio,
            )
        )
    return out


#: The brief's p99 limit for writes: a step above it does not count as sustained.
P99_LIMIT_MS = 500.0


def sustained(row: dict[str, Any]) -> bool:
    """Whether a step counts toward a best rate: within the p99 limit, without
    errors, and every acknowledged write found in PostgreSQL."""
    return bool(
        row["p99_ms"] <= P99_LIMIT_MS
        and row["errors"] == 0
        and row["verification"]["every_acknowledged_write_committed"]
    )


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per shape, each target's best sustained rate (see `sustained`), the target
    met or not, and the ratio of the two; a faster step that was not sustained is
    named beside it."""
    lines = []
    for shape, goal in TARGETS.items():
        steps = {
            t: [r for r in rows if r["target"] == t and r["shape"] == shape]
            for t in ("taskhive", "monolith")
        }
        if not steps["taskhive"] and not steps["monolith"]:
            continue
        best = {
            t: max((r["acked_per_s"] for r in found if sustained(r)), default=0.0)
            for t, found in steps.items()
        }
        ratio = f"{best['taskhive'] / best['monolith']:.2f}" if best["monolith"] else "n/a"
        line = (
            f"{shape}: best Taskhive {best['taskhive']:,.0f}/s (target {goal:,}/s: "
            f"{'met' if best['taskhive'] >= goal else 'not met'}), best monolith "
            f"{best['monolith']:,.0f}/s, Taskhive ÷ monolith {ratio}"
        )
        over = [
            f"{t} {r['acked_per_s']:,.0f}/s at p99 {r['p99_ms']:,.0f} ms"
            for t, found in steps.items()
            for r in found
            if not sustained(r) and r["acked_per_s"] > best[t]
        ]
        if over:
            line += f" (faster but over the {P99_LIMIT_MS:.0f} ms p99 or failing: "
            line += ", ".join(over) + ")"
        lines.append(line)
    return lines


def _retypeable(argv: list[str]) -> str:
    """The arguments as recorded with a result: all but where it was written."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            kept.append(arg)
    return " ".join(kept)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    os.environ[host_commit.ENV] = "1" if args.host_group_commit == "on" else "0"
    # Ray starts its workers at nice 15; the monolith and PostgreSQL run at 0. On a
    # shared machine that alone starves the stack: compete on the same terms.
    os.environ.setdefault("RAY_worker_niceness", "0")
    work = Path(tempfile.mkdtemp(prefix="taskhive-writes-"))
    jwt_secret = secrets.token_hex(32)
    settings = Settings(
        data_dir=work / "data",
        port=free_port(),
        database_url=os.environ.get("TASKHIVE_DATABASE_URL") or None,
        redis_url=os.environ.get("TASKHIVE_REDIS_URL") or None,
        jwt_secret=jwt_secret,
        access_token_ttl_s=4 * 3600,
        rate_limit_per_min=100_000_000,  # one benchmark user drives all the load
    )
    stack = Stack(settings)
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {"host_group_commit": args.host_group_commit}
    load1, load5, _ = os.getloadavg()
    info["load_average_at_start"] = [round(load1, 2), round(load5, 2)]
    try:
        t = time.monotonic()
        log(f"starting the stack in {work} (host group commit {args.host_group_commit})")
        stack.start_storage()
        stack.start_compute()
        info["stack_start_s"] = round(time.monotonic() - t, 1)
        with httpx.Client(base_url=stack.url, timeout=60.0) as client:
            account = seed.create_account(client)
            projects = seed.create_projects(client, account, args.projects)
        tasks = seed.make_tasks(account, projects, args.tasks)
        asyncio.run(seed.insert_tasks(stack.database_url, projects, tasks, args.tasks))
        headers = {"Authorization": f"Bearer {account.token}"}
        with httpx.Client(base_url=stack.url, timeout=60.0) as client:
            for project in projects:  # activate every grain
                got = client.get(f"/api/v1/tasks?project_id={project.id}&limit=1", headers=headers)
                got.raise_for_status()
        log(f"seeded and warmed {len(projects)} projects x {args.tasks} tasks")
        ids = {"spread": work / "spread.txt", "hot": work / "hot.txt"}
        ids["spread"].write_text("".join(f"{x.id}\n" for x in tasks))
        ids["hot"].write_text("".join(f"{x.id}\n" for x in tasks if x.project_id == projects[0].id))
        context: dict[str, Any] = {
            "work": work,
            "headers": headers,
            "database_url": stack.database_url,
            "counters": commit_counters(stack.url),
        }

        for target in args.targets:
            proc: subprocess.Popen[bytes] | None = None
            url = stack.url
            try:
                if target == "monolith":
                    env = {
                        "BENCH_DATABASE_URL": seed.asyncpg_url(stack.database_url),
                        "BENCH_JWT_SECRET": jwt_secret,
                    }
                    proc, url = start_app(
                        "bench.monolith_app", ["--workers", "2"], env, work / "monolith.log"
                    )
                for shape in args.shapes:
                    for connections in args.connections:
                        profiler = None
                        last = connections == args.connections[-1]
                        if args.profile and last and (target, shape) == ("taskhive", "spread"):
                            profiler = profile.Profiler(work / "profile")
                            profiler.start(profile.descendant_actors())
                        row = run_step(
                            wrk, target, url, shape, ids[shape], connections, args, context
                        )
                        if profiler is not None:
                            info["profile"] = profiler.keep(args.out / f"writes-{stamp}-profile")
                            row["profiled"] = True
                        if target == "taskhive":
                            # Hosts push their metrics when asked; grains batch in between.
                            counters = commit_counters(stack.url)
                            row["commits"] = commit_means(context["counters"], counters)
                            context["counters"] = counters
                            log(f"  commits: {row['commits']}")
                            # The relay's backlog would eat the next step's CPU.
                            row["outbox"] = wait_drained(
                                stack.database_url, account.org_id, args.drain_timeout
                            )
                            log(f"  outbox: {row['outbox']}")
                        rows.append(row)
            finally:
                if proc is not None:
                    stop_process(proc)
    finally:
        log("stopping the stack")
        try:
            stack.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    failures = [
        f"{r['target']} {r['shape']} c={r['connections']}: an acknowledged write is missing: "
        f"{r['verification']}"
        for r in rows
        if not r["verification"]["every_acknowledged_write_committed"]
    ]
    warnings = [
        f"{r['target']} {r['shape']} c={r['connections']}: other processes used "
        f"{r['foreign_pct']:.0f}% of a CPU"
        for r in rows
        if r["foreign_pct"] > 10
    ]
    table = _table(COLUMNS, table_rows(rows))
    summary = summary_lines(rows)
    out = {
        "name": "writes",
        "timestamp": started.isoformat(timespec="seconds"),
        "machine": report.machine_info(wrk_version(wrk)),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "info": info,
        "rows": rows,
        "summary": summary,
        "warnings": warnings,
        "failures": failures,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"writes-{stamp}.json"
    md_path = args.out / f"writes-{stamp}.md"
    json_path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    md_path.write_text(
        f"# Durable writes {stamp}\n\n"
        f"`python -m bench.writes {_retypeable(argv if argv is not None else sys.argv[1:])}`: "
        f"PATCH /api/v1/tasks/{{id}} with wrk (1 thread), {args.projects} projects x "
        f"{args.tasks} tasks, {args.seconds} s per step, host group commit "
        f"{args.host_group_commit}. CPU ms/write: the target's processes (Taskhive: the "
        "whole stack; the monolith: its workers and PostgreSQL) per acknowledged write. "
        "Outbox behind: events the relay had not handled when the step ended, and how "
        f"long it took to catch up.\n\nLoad average at start: {info['load_average_at_start']}.\n\n"
        + "\n".join(f"- {line}" for line in summary)
        + "\n\n```\n"
        + table
        + "\n```\n"
        + "".join(f"\nWARNING: {w}" for w in warnings)
        + "".join(f"\nFAILURE: {f}" for f in failures)
        + "\n"
    )
    print()
    print(table)
    print()
    for line in summary:
        print(line)
    for w in warnings:
        print(f"WARNING: {w}")
    for f in failures:
        print(f"FAILURE: {f}")
    shown = [p.relative_to(REPO) if p.is_relative_to(REPO) else p for p in (md_path, json_path)]
    print(f"\nwritten: {shown[0]}, {shown[1]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
