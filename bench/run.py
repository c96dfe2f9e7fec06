"""The foundation benchmark: the stack as the product starts it, seeded, measured with wrk.

Starts `cluster.stack.Stack` (embedded PostgreSQL/Redis unless TASKHIVE_DATABASE_URL /
TASKHIVE_REDIS_URL are set), seeds projects and tasks, then measures with wrk:
GET one task, list a project's open tasks, a project's board, PUT a task's title,
and the same GET and board against a plain FastAPI + uvicorn reference app. Prints a table and writes it as
JSON and Markdown to `bench/results/foundation-<UTC timestamp>.{json,md}`.

    python -m bench.run                                        # 100 x 1,000, 15 s each
    python -m bench.run --projects 10 --tasks 100 --duration 5 # a quick run
    python -m bench.run --scenarios get_task,board,reference_get,reference_board
    python -m bench.run --scenarios get_task,reference_get --rounds 3   # alternating
    python -m bench.run --scenarios get_task --profile                  # py-spy on the actors

With `--rounds N` every scenario runs N times, the whole list in turn, so a slow
spell of the machine falls on Taskhive and the reference alike. Each scenario's
ratio to its reference is taken within a round, and the summary keeps the median
round of each scenario and the median of its rounds' ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
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
import orjson

from bench import cpu, profile, report, seed
from bench.wrk import WrkResult, WrkTarget, ensure_wrk, run_wrk, wrk_version
from cluster.settings import Settings
from cluster.stack import Stack
from domain.events import EventType
from domain.tasks import Task
from storage.ports import free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
_T0 = time.monotonic()
#: Warn when processes not started by this run used more than this (% of one CPU).
FOREIGN_CPU_WARN_PCT = 10.0
SCENARIOS = ("get_task", "list_open", "board", "put_task", "reference_get", "reference_board")


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Taskhive foundation benchmark (wrk against the full stack)"
    )
    p.add_argument("--projects", type=int, default=100, help="projects to seed (default 100)")
    p.add_argument("--tasks", type=int, default=1000, help="tasks per project (default 1000)")
    p.add_argument("--duration", type=int, default=15, help="seconds per scenario (default 15)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--timeout", type=int, default=10, help="wrk request timeout in s (default 10)")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="before each scenario wait up to this many seconds for other processes on the "
        "machine to go quiet (default 60; 0 = do not wait)",
    )
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {', '.join(SCENARIOS)} (default: all)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the scenario list this many times in turn; ratios are taken within a round",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of the stack's actors during the first round's "
        "Taskhive scenarios (one profile per scenario, next to the results)",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown or not args.scenarios:
        p.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    if not 1 <= args.projects <= 26**3 or args.tasks < 1 or args.duration < 1:
        p.error("--projects must be 1..17576, --tasks and --duration at least 1")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads")
    return args


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def start_reference(port: int, tasks_file: Path, log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.reference_app",
                "--port",
                str(port),
                "--tasks-file",
                str(tasks_file),
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 120, proc)
    except Exception:
        stop_process(proc)
        raise RuntimeError(f"reference app did not start: {log_file.read_text()[-2000:]}") from None
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def sanity_check(
    client: httpx.Client, headers: dict[str, str], tasks: list[Task], project_id: str
) -> None:
    """Before measuring: the API serves the seeded bodies, and lists filter by status."""
    for task in (tasks[0], tasks[len(tasks) // 2], tasks[-1]):
        got = client.get(f"/api/v1/tasks/{task.id}", headers=headers)
        if got.status_code != 200 or got.json() != task.as_json():
            raise RuntimeError(f"GET task {task.key}: {got.status_code} {got.text[:500]}")
    got = client.get(f"/api/v1/tasks?project_id={project_id}&status=open", headers=headers)
    items = got.json().get("items", []) if got.status_code == 200 else None
    if not items or any(i["project_id"] != project_id for i in items):
        raise RuntimeError(f"GET open tasks of {project_id}: {got.status_code} {got.text[:500]}")


async def _pg_sessions(database_url: str) -> int:
    """Sessions ever opened to the database (PostgreSQL ≥ 14): counts connection churn."""
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        value = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value or 0)
    finally:
        await conn.close()


async def _db_versions(
    database_url: str, org_id: UUID
) -> tuple[int, int, int, list[dict[str, Any]]]:
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE version > 1) AS changed, "
            "coalesce(sum(version - 1), 0) AS increments FROM tasks WHERE org_id = $1",
            org_id,
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE org_id = $1 AND type = $2",
            org_id,
            EventType.TASK_UPDATED.value,
        )
        top = await conn.fetch(
            "SELECT id, key, title, version FROM tasks WHERE org_id = $1 AND version > 1 "
            "ORDER BY version DESC, key LIMIT 5",
            org_id,
        )
        return int(row["changed"]), int(row["increments"]), int(events), [dict(r) for r in top]
    finally:
        await conn.close()


def verify_writes(
    client: httpx.Client,
    account: seed.Account,
    database_url: str,
    put: WrkResult,
    connections: int,
) -> dict[str, Any]:
    """After the PUT run: PostgreSQL and the API (the grains) agree the writes happened.

    Every 2xx PUT changed a title to a new one, so it added exactly one version; a
    request wrk abandoned at the end (at most one per connection) may have too.
    """
    time.sleep(1.0)  # requests wrk abandoned at the end may still commit
    headers = {"Authorization": f"Bearer {account.token}"}
    changed, increments, events, top = asyncio.run(_db_versions(database_url, account.org_id))
    checks = []
    for row in top:
        got = client.get(f"/api/v1/tasks/{row['id']}", headers=headers)
        body = got.json() if got.status_code == 200 else {}
        ok = body.get("version") == row["version"] > 1 and body.get("title") == row["title"]
        checks.append(f"{row['key']} v{body.get('version')} {'ok' if ok else 'MISMATCH'}")
    consistent = put.ok <= increments <= put.ok + connections
    result = {
        "put_2xx_responses": put.ok,
        "tasks_with_version_gt_1": changed,
        "version_increments_in_db": increments,
        "task_updated_events": events,
        "db_matches_responses": consistent,
        "api_readback": ", ".join(checks),
        "api_readback_ok": bool(checks) and all(c.endswith(" ok") for c in checks),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="taskhive-bench-"))
    settings = Settings(
        data_dir=work / "data",
        port=free_port(),
        database_url=os.environ.get("TASKHIVE_DATABASE_URL") or None,
        redis_url=os.environ.get("TASKHIVE_REDIS_URL") or None,
        access_token_ttl_s=4 * 3600,  # one token for the whole run
        # One benchmark user drives all the load; the per-user limit would cap it.
        rate_limit_per_min=100_000_000,
    )
    stack = Stack(settings)
    reference: subprocess.Popen[bytes] | None = None
    results: list[tuple[int, str, str, WrkResult, dict[str, Any]]] = []
    verification: dict[str, Any] = {}
    seed_info: dict[str, Any] = {}
    warnings: list[str] = []  # the numbers are disturbed
    failures: list[str] = []  # the numbers are wrong: errors, failed verification
    profiles: dict[str, Any] = {}  # scenario -> where its profile's samples went
    db_version = ""
    try:
        t = time.monotonic()
        log(f"starting storage in {work}")
        stack.start_storage()
        log("starting compute (Ray, project hosts, Serve)")
        stack.start_compute()
        seed_info["stack_start_s"] = round(time.monotonic() - t, 1)
        log(f"stack up at {stack.url} in {seed_info['stack_start_s']} s")

        t = time.monotonic()
        with httpx.Client(base_url=stack.url, timeout=60.0) as client:
            account = seed.create_account(client)
            projects = seed.create_projects(client, account, args.projects)
        tasks = seed.make_tasks(account, projects, args.tasks)
        asyncio.run(seed.insert_tasks(stack.database_url, projects, tasks, args.tasks))
        db_version = asyncio.run(_server_version(stack.database_url))
        seed_info["seed_s"] = round(time.monotonic() - t, 1)
        log(f"seeded {len(projects)} projects x {args.tasks} tasks in {seed_info['seed_s']} s")

        headers = {"Authorization": f"Bearer {account.token}"}
        t = time.monotonic()
        with httpx.Client(base_url=stack.url, timeout=60.0) as client:
            for project in projects:  # activates every grain (loads its tasks)
                got = client.get(f"/api/v1/tasks?project_id={project.id}&limit=1", headers=headers)
                if got.status_code != 200:
                    raise RuntimeError(
                        f"warm-up of {project.key}: {got.status_code} {got.text[:500]}"
                    )
            sanity_check(client, headers, tasks, str(projects[0].id))
        seed_info["warm_up_s"] = round(time.monotonic() - t, 1)
        log(f"warmed up {len(projects)} grains in {seed_info['warm_up_s']} s")

        task_ids = work / "task_ids.txt"
        task_ids.write_text("".join(f"{x.id}\n" for x in tasks))
        project_ids = work / "project_ids.txt"
        project_ids.write_text("".join(f"{p.id}\n" for p in projects))
        bodies = work / "task_bodies.json"
        bodies.write_bytes(orjson.dumps({str(x.id): x.as_json() for x in tasks}))
        ref_port = free_port()
        reference = start_reference(ref_port, bodies, work / "reference.log")
        ref_url = f"http://127.0.0.1:{ref_port}"
        with httpx.Client(base_url=ref_url) as client:
            if client.get(f"/tasks/{tasks[0].id}").json() != tasks[0].as_json():
                raise RuntimeError("the reference app does not serve the seeded body")
        del tasks[1:]  # ~100 MB at full scale; only the ids files are needed from here on

        scenarios = [
            (
                "get_task",
                "GET /api/v1/tasks/{id}, random task of any project",
                WrkTarget(stack.url, "GET", "/api/v1/tasks/", task_ids, headers=headers),
            ),
            (
                "board",
                "GET /api/v1/projects/{id}/board?limit=50 (50 cards per column), random project",
                WrkTarget(
                    stack.url,
                    "GET",
                    "/api/v1/projects/",
                    project_ids,
                    path_suffix="/board?limit=50",
                    headers=headers,
                ),
            ),
            (
                "list_open",
                "GET /api/v1/tasks?project_id=…&status=open (first page, 50), random project",
                WrkTarget(
                    stack.url,
                    "GET",
                    "/api/v1/tasks?project_id=",
                    project_ids,
                    path_suffix="&status=open",
                    headers=headers,
                ),
            ),
            (
                "put_task",
                'PUT /api/v1/tasks/{id} {"title": …} without If-Match, random task of any project',
                WrkTarget(
                    stack.url, "PUT", "/api/v1/tasks/", task_ids, body="title", headers=headers
                ),
            ),
            (
                "reference_get",
                "plain FastAPI + uvicorn (1 worker) GET /tasks/{id} from a dict",
                WrkTarget(ref_url, "GET", "/tasks/", task_ids),
            ),
            (
                "reference_board",
                "plain FastAPI + uvicorn (1 worker) GET …/board?limit=50 from a dict",
                WrkTarget(
                    ref_url, "GET", "/api/v1/projects/", project_ids, path_suffix="/board?limit=50"
                ),
            ),
        ]
        scenarios = [s for s in scenarios if s[0] in args.scenarios]
        runs = [(k, *sc) for k in range(1, args.rounds + 1) for sc in scenarios]
        for round_no, name, description, target in runs:
            of_rounds = f" (round {round_no} of {args.rounds})" if args.rounds > 1 else ""
            log(f"wrk: {name} for {args.duration} s{of_rounds} ...")
            if args.wait_quiet > 0:
                foreign = cpu.wait_quiet(
                    str(work), max_wait_s=args.wait_quiet, limit_pct=FOREIGN_CPU_WARN_PCT
                )
                if foreign > FOREIGN_CPU_WARN_PCT:
                    log(f"  other processes still use {foreign:.0f}% of a CPU; measuring anyway")
            sessions_before = asyncio.run(_pg_sessions(stack.database_url))
            profiler = None
            if args.profile and round_no == 1 and not name.startswith("reference"):
                profiler = profile.Profiler(work / f"profile-{name}")
                profiler.start(profile.descendant_actors())
            before = cpu.snapshot(str(work))
            result = run_wrk(
                wrk,
                target,
                work / f"{name}.lua",
                duration_s=args.duration,
                threads=args.threads,
                connections=args.connections,
                timeout_s=args.timeout,
            )
            used = cpu.usage(before, cpu.snapshot(str(work)))
            if profiler is not None:
                profiles[name] = profiler.keep(args.out / f"foundation-{stamp}-profile-{name}")
            time.sleep(1.1)  # backends flush their statistics at most once a second
            # Minus the session of the first _pg_sessions call (the second's is not counted yet).
            used["new_db_sessions"] = (
                asyncio.run(_pg_sessions(stack.database_url)) - sessions_before - 1
            )
            results.append((round_no, name, description, result, used))
            log(
                f"  {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                f"errors {result.errors} {result.statuses} {result.socket_errors}"
            )
            log(
                f"  CPU (% of one core): {cpu.summary(used)}; "
                f"{used['new_db_sessions']} new PostgreSQL sessions"
            )
            if used["foreign_pct"] > FOREIGN_CPU_WARN_PCT:
                warnings.append(
                    f"{name}: other processes on this machine used {used['foreign_pct']:.0f}% of a "
                    f"CPU during the run; its numbers are disturbed"
                )
            if result.errors:
                failures.append(
                    f"{name}: {result.errors} errors; first: {result.first_error[:300]}"
                )
            if not result.percentiles_agree:
                warnings.append(
                    f"{name}: done() percentiles disagree with the --latency text "
                    f"{result.text_percentiles_ms}"
                )
            if name == "put_task":
                with httpx.Client(base_url=stack.url, timeout=30.0) as client:
                    verification = verify_writes(
                        client, account, stack.database_url, result, args.connections
                    )
                log(f"  write verification: {verification}")
                if not (verification["db_matches_responses"] and verification["api_readback_ok"]):
                    failures.append(f"write verification failed: {verification}")
    finally:
        if reference is not None:
            stop_process(reference)
        log("stopping the stack")
        try:
            stack.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    rows = result_rows(results)
    summary = median_rounds(rows) if args.rounds > 1 else []
    out = {
        "name": "foundation",
        "timestamp": started.isoformat(timespec="seconds"),
        "machine": report.machine_info(wrk_version(wrk)) | {"postgresql": db_version},
        "settings": {
            "projects": args.projects,
            "tasks_per_project": args.tasks,
            "duration_s": args.duration,
            "threads": args.threads,
            "connections": args.connections,
            "timeout_s": args.timeout,
            "wait_quiet_s": args.wait_quiet,
            "rounds": args.rounds,
            "stack": _describe_stack(settings),
        },
        "timings": seed_info,
        "results": rows,
        **({"median_of_rounds": summary} if summary else {}),
        **({"profile": profiles} if profiles else {}),
        "verification": verification,
        "warnings": warnings,
        "failures": failures,
    }
    json_path, md_path = report.write(out, args.out, f"foundation-{stamp}")
    print()
    print(report.console_table(rows))
    if summary:
        print(f"\nmedian of {args.rounds} rounds (ratios taken within each round):")
        print(report.console_table(summary))
    print()
    for key, value in verification.items():
        print(f"  {key}: {value}")
    for warning in warnings:
        print(f"WARNING: {warning}")
    for failure in failures:
        print(f"FAILURE: {failure}")
    print(
        f"\nwritten: {json_path.relative_to(REPO) if json_path.is_relative_to(REPO) else json_path}"
    )
    print(f"         {md_path.relative_to(REPO) if md_path.is_relative_to(REPO) else md_path}")
    return 1 if failures else 0


def result_rows(
    results: list[tuple[int, str, str, WrkResult, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One row per scenario run, its ratio to the reference measured in its round: a
    board compares with the reference's board, everything else with its GET."""
    measured = {(k, n): r.rps for k, n, _, r, _ in results}
    rounds = len({k for k, *_ in results})
    rows = []
    for round_no, name, description, result, used in results:
        label = name if rounds == 1 else f"{name} #{round_no}"
        row = {
            "scenario": label,
            "round": round_no,
            "description": description,
            **result.as_json(),
            "cpu": used,
        }
        reference = "reference_board" if "board" in name else "reference_get"
        reference_rps = measured.get((round_no, reference))
        row["ratio_to_reference"] = round(result.rps / reference_rps, 4) if reference_rps else None
        rows.append(row)
    return rows


def median_rounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario: its median round (by requests/s), with the median of the rounds'
    ratios to the reference in place of that round's own."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["scenario"].rsplit(" #", 1)[0], []).append(row)
    summary = []
    for name, runs in by_name.items():
        ordered = sorted(runs, key=lambda r: r["requests_per_s"])
        middle = ordered[(len(ordered) - 1) // 2]
        ratios = sorted(r["ratio_to_reference"] for r in runs if r["ratio_to_reference"])
        summary.append(
            {
                **middle,
                "scenario": name,
                "rounds_requests_per_s": [r["requests_per_s"] for r in runs],
                "ratio_to_reference": statistics.median(ratios) if ratios else None,
                "rounds_ratio_to_reference": [r["ratio_to_reference"] for r in runs],
            }
        )
    return summary


def _describe_stack(settings: Settings) -> str:
    db = "external PostgreSQL" if settings.database_url else "embedded PostgreSQL"
    cache = "external Redis" if settings.redis_url else "embedded Redis"
    return (
        f"{db}, {cache}, {settings.hosts} project hosts, {settings.replicas} API replica(s), "
        f"db_pool_size {settings.db_pool_size}, idle_seconds {settings.idle_seconds:g}"
    )


async def _server_version(database_url: str) -> str:
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
