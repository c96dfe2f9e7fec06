"""The host's write path alone: grains in this process, PostgreSQL, no Ray, no HTTP.

`bench.writes` measures the whole stack, whose numbers on a shared 2-core machine
are mostly the wait for a CPU between its many processes. This one isolates what
a project host spends per write: it creates a scratch database (migrated), seeds
`--projects` projects with tasks, activates a grain per project in this process
and lets `--clients` coroutines submit task updates (a fresh idempotency key each,
as the API does) for `--seconds`, in two shapes (`spread`: any project, `hot`: the
first one), once with every grain committing alone and once with the grains
sharing a `HostCommitter`. It reports writes/s and this process's CPU per write
(the host's share; PostgreSQL's is not counted), prints a table and writes
`bench/results/host-writes-<UTC>.{md,json}`.

    python -m bench.host_writes --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from actors.grain import ProjectGrain
from actors.host_commit import HostCommitter
from bench import seed
from bench.mixed_report import _table
from domain.commands import IdempotencyKey, UpdateTask
from domain.events import Event
from domain.projects import Project
from storage.db import create_engine
from storage.migrate import upgrade
from storage.project_store import ProjectStore

RESULTS = Path(__file__).resolve().parent / "results"
T = TypeVar("T")


async def _no_publish(_project: Project, _events: list[Event]) -> None:
    return None


def on_scratch_database(server_url: str, measure: Callable[[str], Coroutine[Any, Any, T]]) -> T:
    """`measure` on a migrated throw-away database of the server, dropped afterwards."""
    url = asyncio.run(_scratch(server_url))
    try:
        upgrade(url)  # runs its own event loop
        return asyncio.run(measure(url))
    finally:
        asyncio.run(_drop(server_url, url))


async def _scratch(server_url: str) -> str:
    name = f"taskhive_host_writes_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(seed.asyncpg_url(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def _drop(server_url: str, url: str) -> None:
    conn = await asyncpg.connect(seed.asyncpg_url(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed_projects(url: str, projects: int, tasks: int) -> tuple[seed.Account, list[Any]]:
    org, user = uuid.uuid4(), uuid.uuid4()
    account = seed.Account(token="", user_id=user, org_id=org)
    made = [seed.SeededProject(id=uuid.uuid4(), key=seed.project_key(i)) for i in range(projects)]
    rows = seed.make_tasks(account, made, tasks)
    conn = await asyncpg.connect(seed.asyncpg_url(url))
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO orgs (id, name) VALUES ($1, 'bench')", org)
            await conn.execute(
                "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, 'b', 'x')",
                user,
                f"{user}@bench.example",
            )
            await conn.executemany(
                "INSERT INTO projects (id, org_id, key, name, owner_id, task_seq) "
                "VALUES ($1, $2, $3, $3, $4, $5)",
                [(p.id, org, p.key, user, tasks) for p in made],
            )
            await seed.copy_tasks(conn, rows)
    finally:
        await conn.close()
    return account, rows


async def _run(
    store: ProjectStore, account: seed.Account, tasks: list[Any], shared: bool, args: Any
) -> dict[str, Any]:
    committer = HostCommitter(store) if shared else None
    commit = committer.commit if committer is not None else None
    pids = list(dict.fromkeys(t.project_id for t in tasks))
    grains = {p: await ProjectGrain.activate(p, store, _no_publish, commit) for p in pids}
    done = 0
    deadline = time.monotonic() + args.seconds

    async def client() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            task = random.choice(tasks)
            key = IdempotencyKey(account.org_id, account.user_id, uuid.uuid4().hex, "h", True)
            command = UpdateTask(account.user_id, task.id, {"title": f"t {done}"})
            grain = grains[task.project_id]
            assert grain is not None
            await grain.submit(command, key)
            done += 1

    wall, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    for grain in grains.values():
        if grain is not None:
            await grain.passivate()
    return {"writes_per_s": done / wall, "cpu_ms_per_write": 1000 * cpu / max(done, 1)}


async def measure(url: str, args: Any) -> list[tuple[str, ...]]:
    """Alternating runs (alone, together, alone, together) per shape."""
    rows: list[tuple[str, ...]] = []
    account, tasks = await seed_projects(url, args.projects, args.tasks)
    engine = create_engine(url, pool_size=10)
    store = ProjectStore(engine)
    hot = [t for t in tasks if t.project_id == tasks[0].project_id]
    try:
        for shape, chosen in (("spread", tasks), ("hot", hot)):
            for shared in (False, True, False, True):
                r = await _run(store, account, chosen, shared, args)
                mode = "host group commit" if shared else "each grain alone"
                print(f"{shape} {mode}: {r}", file=sys.stderr, flush=True)
                rows.append(
                    (shape, mode, f"{r['writes_per_s']:,.0f}", f"{r['cpu_ms_per_write']:.2f}")
                )
    finally:
        await engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--database-url", required=True, help="a server where a scratch DB may go")
    p.add_argument("--projects", type=int, default=100)
    p.add_argument("--tasks", type=int, default=20, help="tasks per project")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args(argv)
    rows = on_scratch_database(args.database_url, lambda url: measure(url, args))
    table = _table(("shape", "commit", "writes/s", "host CPU ms/write"), rows)
    print(table)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "database_url"}
    (RESULTS / f"host-writes-{stamp}.md").write_text(
        f"# Host write path {stamp}\n\n{settings}, {args.seconds:g} s per run, "
        f"runs alternating.\n\n```\n{table}\n```\n"
    )
    (RESULTS / f"host-writes-{stamp}.json").write_text(
        json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
