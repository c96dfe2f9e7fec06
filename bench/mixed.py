"""The mixed-workload benchmark (`make bench`): Taskhive against two references.

Starts the stack as `taskhive up` does (embedded PostgreSQL and Redis, so their
CPU is counted), seeds the target data set (`bench/dataset.py`: 1,000 users,
100 projects, 100 tasks per user, a few hot projects), then finds each target's
maximum sustainable throughput with stepped locust load (`bench/steps.py`) on the
same data, one target after the other:

1. Taskhive (the stack);
2. the monolith (`bench/monolith_app.py`: FastAPI + asyncpg on the same tables,
   2 uvicorn workers);
3. the ceiling (`bench/reference_app.py`: FastAPI, 2 uvicorn workers, from memory).

Prints a table, writes JSON and Markdown to `bench/results/mixed-<UTC>.{json,md}`
and latency-vs-throughput curves to `bench/results/mixed-<UTC>.png`.

    python -m bench.mixed               # the target data set, 30 s steps
    python -m bench.mixed --quick       # small data, short steps (~3-4 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil

from bench import cpu, dataset, mixed_report, profile, seed, steps
from bench.run import stop_process, wait_http
from cluster.settings import Settings
from cluster.stack import Stack
from storage.ports import free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
_T0 = time.monotonic()
#: Locust users sharing a `--fixed-rate` step's load (enough that a slow answer to
#: one of them does not hold back the offered rate).
FIXED_RATE_USERS = 32


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Taskhive mixed-workload benchmark (locust, stepped)")
    p.add_argument("--quick", action="store_true", help="small data, short steps (~3-4 min)")
    p.add_argument("--users", type=int, help="seeded users (default 1000; quick 100)")
    p.add_argument("--projects", type=int, help="projects (default 100; quick 10)")
    p.add_argument("--tasks-per-user", type=int, help="tasks per user (default 100; quick 20)")
    p.add_argument("--steps", help="locust user counts, comma-separated (default 4,8,16,32,64,128)")
    p.add_argument("--step-seconds", type=int, help="seconds per step (default 30; quick 10)")
    p.add_argument(
        "--targets", default="taskhive,monolith,ceiling", help="which targets, in this order"
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        help="before each step wait up to this many seconds for other processes to go "
        "quiet (default 10; quick 0)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of the stack's actor processes during Taskhive's steps",
    )
    p.add_argument(
        "--spike",
        action="store_true",
        help="after Taskhive's steps, run the sprint-planning spike (bench/locust_spike.py) "
        "with websocket board watchers against it",
    )
    p.add_argument(
        "--fixed-rate",
        type=float,
        help="after each target's stepped load, one more step at this fixed offered load "
        f"(requests a second, from {FIXED_RATE_USERS} users): latency at the same load for "
        "every target or data size, not only at each one's saturation",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every target this many times, alternating (T, M, T, M, …); the report "
        "keeps each target's median round and the median of the rounds' ratios (default 1)",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    a = p.parse_args(argv)
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    quick = a.quick
    a.users = a.users or (100 if quick else 1000)
    a.projects = a.projects or (10 if quick else 100)
    a.tasks_per_user = a.tasks_per_user or (20 if quick else 100)
    a.steps = [int(x) for x in (a.steps or ("4,16,48" if quick else "4,8,16,32,64,128")).split(",")]
    a.step_seconds = a.step_seconds or (10 if quick else 30)
    a.wait_quiet = (0.0 if quick else 10.0) if a.wait_quiet is None else a.wait_quiet
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    unknown = set(a.targets) - {"taskhive", "monolith", "ceiling"}
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return a


def machine_load_warning() -> str | None:
    """A warning when the machine is busy before we start (load average, other CPU)."""
    load1, load5, _ = os.getloadavg()
    before = cpu.snapshot()
    time.sleep(2.0)
    foreign = float(cpu.usage(before, cpu.snapshot())["foreign_pct"])
    msg = (
        f"load average {load1:.2f} / {load5:.2f} (1 / 5 min), "
        f"other processes {foreign:.0f}% of a CPU"
    )
    log(msg)
    if load1 > 0.5 * (os.cpu_count() or 1) or foreign > 10:
        return f"the machine was busy at the start ({msg}): numbers are noisy"
    return None


def _all_but_driver(pid: int, label: str) -> bool:
    return label != "bench driver"


def _in_tree(tree: set[int], pid: int, label: str) -> bool:
    return pid in tree


def _in_tree_or_postgres(tree: set[int], pid: int, label: str) -> bool:
    return pid in tree or label == "postgres"


def _tree(pid: int) -> set[int]:
    try:
        proc = psutil.Process(pid)
        return {pid, *(c.pid for c in proc.children(recursive=True))}
    except psutil.Error:
        return {pid}


def start_app(
    module: str, args: list[str], env: dict[str, str], log_file: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", 180, proc)
    except Exception:
        stop_process(proc)
        raise RuntimeError(f"{module} did not start: {log_file.read_text()[-2000:]}") from None
    return proc, url


async def _sql(database_url: str, statement: str) -> None:
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def settle_database(database_url: str) -> str:
    """Start a round from the same state whoever wrote before: the previous target's
    dead rows vacuumed and its dirty pages written (`VACUUM (ANALYZE)`, `CHECKPOINT`),
    so autovacuum and the checkpointer do not run during the next target's steps.
    Returns what was done, for the log; a role without the right to checkpoint only
    vacuums."""
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        started = time.monotonic()
        await conn.execute("VACUUM (ANALYZE)")
        done = "vacuumed"
        try:
            await conn.execute("CHECKPOINT")
            done += " and checkpointed"
        except asyncpg.InsufficientPrivilegeError:
            done += " (no right to CHECKPOINT)"
        return f"{done} in {time.monotonic() - started:.1f} s"
    finally:
        await conn.close()


async def verify_writes(database_url: str, acked: steps.Acknowledged) -> dict[str, Any]:
    """Every acknowledged write is in PostgreSQL: each task at least at the newest
    version a write returned for it, each acknowledged comment's row present."""
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT id::text, version FROM tasks WHERE id = ANY($1::uuid[])", list(acked.tasks)
        )
        comments = await conn.fetchval(
            "SELECT count(*) FROM comments WHERE id = ANY($1::uuid[])", acked.comments
        )
    finally:
        await conn.close()
    stored = {r["id"]: r["version"] for r in rows}
    behind = [t for t, v in acked.tasks.items() if stored.get(t, 0) < v]
    return {
        "tasks_written": len(acked.tasks),
        "tasks_behind_an_acknowledged_version": len(behind),
        "comments_acknowledged": len(acked.comments),
        "comments_stored": int(comments),
        "every_acknowledged_write_committed": not behind and comments == len(acked.comments),
    }


def reindex_search(stack: Stack, org_id: Any) -> int:
    """The seeded tasks went straight into PostgreSQL: index them for search."""
    from search.reindex import reindex
    from search.shards import ShardHandles
    from storage.db import create_engine

    async def run() -> int:
        engine = create_engine(stack.database_url, pool_size=2)
        try:
            return await reindex(engine, await ShardHandles().all(), [org_id], whole=False)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def start_target(
    name: str, stack: Stack, work: Path, jwt_secret: str
) -> tuple[steps.Target, subprocess.Popen[bytes] | None]:
    """The target to load, and its process when this run started one. The monolith's
    search index is created here (and dropped by the caller after its turn)."""
    if name == "taskhive":
        return steps.Target("taskhive", stack.url, _all_but_driver), None
    if name == "monolith":
        asyncio.run(_sql(stack.database_url, _monolith_index()))
        env = {
            "BENCH_DATABASE_URL": seed.asyncpg_url(stack.database_url),
            "BENCH_JWT_SECRET": jwt_secret,
        }
        proc, url = start_app("bench.monolith_app", ["--workers", "2"], env, work / "monolith.log")
        return steps.Target(name, url, partial(_in_tree_or_postgres, _tree(proc.pid))), proc
    args = ["--workers", "2", "--tasks-file", str(work / "bodies.json")]
    proc, url = start_app("bench.reference_app", args, {}, work / "ceiling.log")
    return steps.Target(name, url, partial(_in_tree, _tree(proc.pid))), proc


def same_json(url: str, token: str, task_id: str, expected: dict[str, Any]) -> None:
    """A target serves a task in the same JSON shape as seeded: the same fields, and
    the same values for those no write changes (the others may have moved on)."""
    got = httpx.get(
        f"{url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    body = got.json() if got.status_code == 200 else {}
    fixed = ("id", "key", "project_id", "reporter_id", "created_at", "description")
    if set(body) != set(expected) or any(body[k] != expected[k] for k in fixed):
        raise RuntimeError(
            f"{url} serves another body for {task_id}: {got.status_code} {got.text[:300]}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    warnings: list[str] = []
    if (w := machine_load_warning()) is not None:
        warnings.append(w)
    work = Path(tempfile.mkdtemp(prefix="taskhive-mixed-"))
    marker = str(work)
    jwt_secret = secrets.token_hex(32)
    settings = Settings(
        data_dir=work / "data",
        port=free_port(),
        database_url=os.environ.get("TASKHIVE_DATABASE_URL") or None,
        redis_url=os.environ.get("TASKHIVE_REDIS_URL") or None,
        jwt_secret=jwt_secret,
        access_token_ttl_s=12 * 3600,
        rate_limit_per_min=100_000_000,  # a load generator is not abuse
    )
    shape = dataset.Shape(
        users=args.users, projects=args.projects, tasks_per_user=args.tasks_per_user
    )
    stack = Stack(settings)
    rounds: dict[str, list[list[dict[str, Any]]]] = {name: [] for name in args.targets}
    info: dict[str, Any] = {}
    verification: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    spike: dict[str, Any] = {}
    fixed_rate: dict[str, list[dict[str, Any]]] = {}
    try:
        t = time.monotonic()
        log(f"starting the stack in {work}")
        stack.start_storage()
        stack.start_compute()
        info["stack_start_s"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        with httpx.Client(base_url=stack.url, timeout=120.0) as client:
            data = dataset.build(client, stack.database_url, jwt_secret, shape)
        info["tasks"] = data.task_count
        info["seed_s"] = round(time.monotonic() - t, 1)
        log(
            f"seeded {shape.users} users, {shape.projects} projects, {data.task_count:,} tasks in {info['seed_s']} s"
        )
        t = time.monotonic()
        info["search_documents"] = reindex_search(stack, data.account.org_id)
        info["reindex_s"] = round(time.monotonic() - t, 1)
        description = dataset.write_description(data, shape, work / "data.json")
        bodies = dataset.task_bodies(data)
        (work / "bodies.json").write_bytes(orjson.dumps(bodies))
        probe = next(iter(bodies))
        token = data.users[0][1]
        headers = {"Authorization": f"Bearer {token}"}
        t = time.monotonic()
        project_ids = [p.id for p in data.projects]
        warm_grains(stack.url, project_ids, headers)
        info["warm_up_s"] = round(time.monotonic() - t, 1)
        log(
            f"search indexed {info['search_documents']:,} documents; grains warm in {info['warm_up_s']} s"
        )
        hottest = [len(data.tasks_by_project[p.id]) for p in data.projects[:3]]
        info["tasks_in_hottest_projects"] = hottest
        del data.tasks_by_project  # the bodies file has them; keep the driver small

        for round_no, name in _schedule(args.targets, args.rounds):
            first_round = round_no == 1
            proc: subprocess.Popen[bytes] | None = None
            try:
                log(f"database {asyncio.run(settle_database(stack.database_url))}")
                if name == "taskhive" and not first_round and "monolith" in args.targets:
                    # The monolith wrote the tables behind the grains' backs (task
                    # numbers, versions): grains load the projects again.
                    reload_grains(stack, project_ids, headers)
                target, proc = start_target(name, stack, work, jwt_secret)
                same_json(target.url, token, probe, bodies[probe])
                log(
                    f"{name}: stepped load {args.steps} users, {args.step_seconds} s each"
                    + (f" (round {round_no} of {args.rounds})" if args.rounds > 1 else "")
                )
                profiler = None
                if name == "taskhive" and args.profile and first_round:
                    profiler = profile.Profiler(work / "profile")
                    profiler.start(profile.descendant_actors())
                measured, acked = steps.stepped(
                    target,
                    args.steps,
                    args.step_seconds,
                    description,
                    marker,
                    log,
                    wait_quiet_s=args.wait_quiet,
                )
                rounds[name].append(measured)
                if args.fixed_rate:
                    log(f"{name}: a fixed load of {args.fixed_rate:,.0f} req/s")
                    fixed_rate.setdefault(name, []).append(
                        steps.measure_step(
                            target,
                            FIXED_RATE_USERS,
                            args.step_seconds,
                            description,
                            marker,
                            log,
                            acked,
                            rate=args.fixed_rate,
                        )
                    )
                if profiler is not None:
                    profiles = profiler.keep(args.out / f"mixed-{stamp}-profile")
                if name == "taskhive" and args.spike and first_round:
                    log("taskhive: the sprint-planning spike")
                    scale = 0.2 if args.quick else 1.0
                    spike = steps.spike(stack.url, description, base_users=10, scale=scale, log=log)
                    acked.add(spike.pop("acknowledged"))
                if name != "ceiling":
                    checked = asyncio.run(verify_writes(stack.database_url, acked))
                    log(f"  {name} writes: {checked}")
                    # Every round is checked; a round that lost a write is the one kept.
                    if (
                        name not in verification
                        or not checked["every_acknowledged_write_committed"]
                    ):
                        verification[name] = checked
            finally:
                if proc is not None:
                    stop_process(proc)
                if name == "monolith":
                    asyncio.run(_sql(stack.database_url, _monolith_index(drop=True)))
    finally:
        log("stopping the stack")
        try:
            stack.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    results = {name: steps.median_round(measured) for name, measured in rounds.items() if measured}
    for name, target_steps in results.items():
        foreign = [s["cpu"]["foreign_pct"] for s in target_steps]
        if foreign and max(foreign) > 10:
            warnings.append(
                f"{name}: other processes used up to {max(foreign):.0f}% of a CPU during its steps; "
                "its numbers are disturbed"
            )
    failures = [
        f"{n}: an acknowledged write is missing from PostgreSQL: {v}"
        for n, v in verification.items()
        if not v["every_acknowledged_write_committed"]
    ]
    report = mixed_report.build(
        started=started,
        args=vars(args) | {"out": str(args.out)},
        shape=shape,
        info=info,
        results=results,
        rounds=rounds,
        verification=verification,
        warnings=warnings,
        failures=failures,
        profiles=profiles,
        spike=spike,
        fixed_rate=fixed_rate,
    )
    paths = mixed_report.write(report, args.out, f"mixed-{stamp}")
    print()
    print(mixed_report.console(report))
    for w in warnings:
        print(f"WARNING: {w}")
    for f in failures:
        print(f"FAILURE: {f}")
    print(
        "\nwritten: "
        + ", ".join(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p in paths)
    )
    return 1 if failures else 0


def warm_grains(url: str, project_ids: list[Any], headers: dict[str, str]) -> None:
    """Activate every project's grain (a one-task page of each project)."""
    with httpx.Client(base_url=url, timeout=120.0) as client:
        for project_id in project_ids:
            client.get(
                f"/api/v1/tasks?project_id={project_id}&limit=1", headers=headers
            ).raise_for_status()


def reload_grains(stack: Stack, project_ids: list[Any], headers: dict[str, str]) -> None:
    """Passivate every grain and activate it again from PostgreSQL."""
    import ray

    from actors.placement import host_names
    from actors.router import NAMESPACE

    hosts = [ray.get_actor(n, namespace=NAMESPACE) for n in host_names(stack.settings.hosts)]
    passivated = sum(ray.get([h.passivate_all.remote() for h in hosts]))
    warm_grains(stack.url, project_ids, headers)
    log(f"taskhive: {passivated} grains loaded again after the monolith's writes")


def _schedule(targets: list[str], rounds: int) -> list[tuple[int, str]]:
    """`(round, target)` in the order they run: every target once per round, so the
    targets' rounds alternate and a slow spell of the machine hits them alike."""
    return [(r, name) for r in range(1, rounds + 1) for name in targets]


def _monolith_index(drop: bool = False) -> str:
    from bench.monolith_app import SEARCH_INDEX_DDL, SEARCH_INDEX_DROP

    return SEARCH_INDEX_DROP if drop else SEARCH_INDEX_DDL


if __name__ == "__main__":
    sys.exit(main())
