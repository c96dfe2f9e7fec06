"""Grain memory and cold reads: one project with 10,000 tasks, resident and passivated.

    python -m bench.grains [--tasks 10000] [--rounds 7] [--database-url postgresql://...]

It makes a throw-away database (on `--database-url` or `TASKHIVE_DATABASE_URL`, else
an embedded PostgreSQL), starts the stack as `bench.run` does, seeds one project
through `bench.dataset` (100 members, realistic titles, each task assigned), then
measures:

1. **Memory per resident task**, in this process (a host-like one): the project is
   activated with `ProjectGrain.activate` over a real `ProjectStore`, and
   tracemalloc counts what stays allocated (the grain's tasks and indexes), then
   again after every task's JSON was read once (the grain's cached fragments, where
   the code has them) and after one board. (RSS says little here: the warm-up
   activation's freed memory is reused.)
2. **Activation time** in this process, against the reference measured in the same
   minutes: the bare cost of fetching the same rows with asyncpg (`SELECT *`).
3. **Reads through the running stack's API**: the first read of a task of the
   never-activated project, the first read after every host passivated its grains
   (`ProjectHost.passivate_all`), and warm reads of the same project.

Prints a table and writes `bench/results/grains-<UTC>.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from actors.grain import ProjectGrain, TaskQuery
from actors.placement import host_names
from actors.router import NAMESPACE
from bench import cpu, dataset, seed
from cluster.settings import Settings
from cluster.stack import Stack
from domain.events import Event
from domain.projects import Project
from storage.db import create_engine
from storage.ports import free_port
from storage.project_store import ProjectStore

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = RESULTS_DIR.parent.parent
#: The targets (docs/performance.md).
TARGET_BYTES_PER_TASK = 4096
TARGET_FIRST_READ_MS = 300.0
_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[grains {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.grains", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=10_000, help="tasks in the project (10,000)")
    p.add_argument("--rounds", type=int, default=7, help="timed activations / cold reads (7)")
    p.add_argument("--warm-reads", type=int, default=200, help="timed warm API reads (200)")
    p.add_argument(
        "--database-url",
        default=os.environ.get("TASKHIVE_DATABASE_URL"),
        help="a PostgreSQL server to make a throw-away database on (default: embedded)",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    if args.tasks < 100 or args.tasks % 100 or args.rounds < 1:
        p.error("--tasks must be a multiple of 100 (100 members), --rounds at least 1")
    return args


@contextmanager
def throwaway_database(server: str | None) -> Iterator[str | None]:
    """A new database on `server`, dropped afterwards; None (embedded) without one."""
    if server is None:
        yield None
        return
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"taskhive_bench_grains_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- in this process: memory and activation ----------------------------------------------


async def _no_publish(project: Project, events: list[Event]) -> None:
    return None


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _read_everything(grain: ProjectGrain) -> bool:
    """Every task's JSON once, as reads would leave it; False if the grain keeps none."""
    task_json = getattr(grain, "task_json", None)
    if task_json is None:
        return False
    for task_id in list(grain.tasks):
        task_json(task_id)
    return True


def _one_board(grain: ProjectGrain) -> None:
    board_json = getattr(grain, "board_json", None)
    if board_json is not None:
        board_json(TaskQuery(), 50)


async def measure_grain(database_url: str, project_id: UUID, rounds: int) -> dict[str, Any]:
    engine = create_engine(database_url, pool_size=2)
    store = ProjectStore(engine)
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        # One activation first: compiled statements, codecs and imports are not the grain's.
        warm = await ProjectGrain.activate(project_id, store, _no_publish)
        assert warm is not None
        count = len(warm.tasks)
        await warm.passivate()
        del warm

        activate_ms, fetch_ms = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            rows = await conn.fetch(
                "SELECT * FROM tasks WHERE project_id = $1 ORDER BY number", project_id
            )
            fetch_ms.append((time.perf_counter() - t) * 1000)
            del rows
            t = time.perf_counter()
            grain = await ProjectGrain.activate(project_id, store, _no_publish)
            activate_ms.append((time.perf_counter() - t) * 1000)
            assert grain is not None
            await grain.passivate()
            del grain

        tracemalloc.start()
        try:
            base = _traced()
            grain = await ProjectGrain.activate(project_id, store, _no_publish)
            assert grain is not None
            resident = _traced() - base
            cached = _read_everything(grain)
            with_json = _traced() - base if cached else None
            _one_board(grain)
            with_board = _traced() - base if cached else None
            await grain.passivate()
        finally:
            tracemalloc.stop()
    finally:
        await conn.close()
        await engine.dispose()

    def per_task(total: int | None) -> float | None:
        return None if total is None else round(total / count)

    return {
        "tasks": count,
        "bytes_per_task": per_task(resident),
        "bytes_per_task_with_json": per_task(with_json),
        "bytes_per_task_with_json_and_board": per_task(with_board),
        "activate_ms": _summary(activate_ms),
        "asyncpg_fetch_ms": _summary(fetch_ms),
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


# -- through the stack's API --------------------------------------------------------------


def _passivate_all(hosts: int) -> int:
    import ray

    handles = [ray.get_actor(name, namespace=NAMESPACE) for name in host_names(hosts)]
    return sum(ray.get([h.passivate_all.remote() for h in handles]))


def _get_ms(client: httpx.Client, path: str, headers: dict[str, str]) -> float:
    t = time.perf_counter()
    got = client.get(path, headers=headers)
    elapsed = (time.perf_counter() - t) * 1000
    if got.status_code != 200:
        raise RuntimeError(f"GET {path}: {got.status_code} {got.text[:300]}")
    return elapsed


def measure_api(
    url: str, token: str, task_ids: list[UUID], hosts: int, rounds: int, warm_reads: int
) -> dict[str, Any]:
    rng = random.Random(11)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60.0) as client:
        first = _get_ms(client, f"/api/v1/tasks/{task_ids[0]}", headers)
        warm_ids = task_ids[:50]
        for task_id in warm_ids:  # the replica resolves these from now on: only grains are cold
            _get_ms(client, f"/api/v1/tasks/{task_id}", headers)
        passivated = []
        for _ in range(rounds):
            if not _passivate_all(hosts):
                raise RuntimeError("no grain was resident to passivate")
            passivated.append(_get_ms(client, f"/api/v1/tasks/{rng.choice(warm_ids)}", headers))
        warm = [
            _get_ms(client, f"/api/v1/tasks/{rng.choice(warm_ids)}", headers)
            for _ in range(warm_reads)
        ]
    return {
        "first_read_ms": round(first, 1),
        "passivated_read_ms": _summary(passivated),
        "warm_read_ms": _summary(warm),
    }


# -- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, database_url: str | None, work: Path) -> dict[str, Any]:
    settings = Settings(
        data_dir=work / "data",
        port=free_port(),
        database_url=database_url,
        redis_url=os.environ.get("TASKHIVE_REDIS_URL") or None,
        access_token_ttl_s=4 * 3600,
        rate_limit_per_min=100_000_000,
    )
    stack = Stack(settings)
    try:
        log(f"starting the stack in {work}")
        stack.start_storage()
        stack.start_compute()
        shape = dataset.Shape(
            users=100, projects=1, tasks_per_user=args.tasks // 100, notifications_per_user=0
        )
        with httpx.Client(base_url=stack.url, timeout=60.0) as client:
            data = dataset.build(client, stack.database_url, settings.resolved_jwt_secret(), shape)
        project = data.projects[0]
        task_ids = [t.id for t in data.tasks_by_project[project.id]]
        log(f"seeded {project.key} with {len(task_ids):,} tasks")
        rng = random.Random(5)
        rng.shuffle(task_ids)

        before = cpu.snapshot(str(work))
        log("reads through the API (first, after passivation, warm) ...")
        api = measure_api(
            stack.url, data.account.token, task_ids, settings.hosts, args.rounds, args.warm_reads
        )
        log(f"  {api}")
        log("activations in this process (timing, then memory) ...")
        grain = asyncio.run(measure_grain(stack.database_url, project.id, args.rounds))
        log(f"  {grain}")
        used = cpu.usage(before, cpu.snapshot(str(work)))
        return {"grain": grain, "api": api, "cpu": used, "stack_hosts": settings.hosts}
    finally:
        log("stopping the stack")
        stack.stop()


def table(report: dict[str, Any]) -> str:
    g, a = report["grain"], report["api"]

    def num(value: float | None, unit: str = "") -> str:
        return "n/a" if value is None else f"{value:,.0f}{unit}"

    def span(s: dict[str, float]) -> str:
        return f"{s['median']:.1f} ({s['min']:.1f}..{s['max']:.1f})"

    rows = [
        ("bytes per resident task (tracemalloc)", num(g["bytes_per_task"]), "≤ 4,096"),
        ("  + every task's JSON read once", num(g["bytes_per_task_with_json"]), "≤ 4,096"),
        ("  + one board (rank order kept)", num(g["bytes_per_task_with_json_and_board"]), ""),
        (f"activate {g['tasks']:,} tasks, in process, ms", span(g["activate_ms"]), ""),
        ("  reference: asyncpg fetch of the rows, ms", span(g["asyncpg_fetch_ms"]), ""),
        ("API: first read of the project, ms", f"{a['first_read_ms']:.1f}", "< 300"),
        ("API: first read after passivation, ms", span(a["passivated_read_ms"]), "< 300"),
        ("API: warm read, ms", span(a["warm_read_ms"]), ""),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"| {'measure'.ljust(width)} | median (min..max) or value | target |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name.ljust(width)} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="taskhive-grains-"))
    load_before = os.getloadavg()[0]
    try:
        with throwaway_database(args.database_url) as database_url:
            measured = run(args, database_url, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "name": "grains",
        "timestamp": started.isoformat(timespec="seconds"),
        "settings": {"tasks": args.tasks, "rounds": args.rounds, "warm_reads": args.warm_reads},
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **measured,
    }
    g, a = report["grain"], report["api"]
    per_task = g["bytes_per_task_with_json"] or g["bytes_per_task"]
    report["targets_met"] = {
        "memory": per_task <= TARGET_BYTES_PER_TASK,
        "first_read": max(a["first_read_ms"], a["passivated_read_ms"]["max"])
        < TARGET_FIRST_READ_MS,
    }
    text = table(report)
    print(text)
    print(f"targets met: {report['targets_met']}; CPU: {cpu.summary(report['cpu'])}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"grains-{stamp}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    md = [
        f"# Benchmark `grains`, {report['timestamp']}",
        "",
        f"One project with {g['tasks']:,} tasks (`bench.dataset`: 100 members, every task "
        "assigned). Memory and activation are measured in the benchmark's own process "
        "(`ProjectGrain.activate` over a real `ProjectStore`); reads go through the stack's "
        f"API ({report['stack_hosts']} project hosts, one API replica). Reference: the bare "
        "asyncpg fetch of the same rows, in the same run.",
        "",
        text,
        "",
        f"Targets met: {report['targets_met']}.",
        f"Load average (1 min) before / after: {report['load_average_1m']}. "
        f"CPU during the measurements (% of one core): {cpu.summary(report['cpu'])}.",
        "",
    ]
    (args.out / f"{stem}.md").write_text("\n".join(md))
    shown = args.out / stem
    print(
        f"written: {shown.relative_to(REPO) if shown.is_relative_to(REPO) else shown}.{{json,md}}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
