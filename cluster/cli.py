"""The `taskhive` command: `up` runs the whole stack, `migrate` upgrades a database."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from types import FrameType

from cluster import backup_cli, transfer_cli
from cluster.settings import Settings
from cluster.stack import Stack


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    if getattr(args, "database_url", None) is not None:
        overrides["database_url"] = args.database_url
    return Settings(**overrides)  # type: ignore[arg-type]


def cmd_up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.data_dir = settings.data_dir.resolve()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    stack = Stack(settings)
    try:
        print(f"taskhive: data in {settings.data_dir}", flush=True)
        stack.start_storage()
        if stop.is_set():
            return 0
        stack.start_compute()
        print(
            f"taskhive: ready at {stack.url} (API docs: {stack.url}/docs) "
            f"in {time.monotonic() - started:.1f} s; Ctrl-C stops it",
            flush=True,
        )
        stop.wait()
        print("taskhive: stopping", flush=True)
    finally:
        stack.stop()
    print("taskhive: stopped", flush=True)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stack = Stack(settings)
    try:
        stack.start_storage()  # starts an embedded database if none is configured; migrates
        print(f"taskhive: database at the newest schema ({stack.database_url.split('@')[-1]})")
    finally:
        stack.stop()
    return 0


def cmd_reports_rebuild(args: argparse.Namespace) -> int:
    """Recompute the analytics of one project (or all) from the event log."""
    import asyncio

    from reports.rebuild import rebuild
    from storage.db import create_engine

    project: uuid.UUID | None = args.project
    stack = Stack(_settings(args))
    try:
        stack.start_storage()

        async def run() -> int:
            engine = create_engine(stack.database_url, pool_size=1)
            try:
                done = await rebuild(engine, project)
            finally:
                await engine.dispose()
            for r in done:
                print(f"taskhive: project {r.project_id}: {r.events} events, version {r.version}")
            return len(done)

        count = asyncio.run(run())
        print(f"taskhive: rebuilt the reports of {count} project(s)")
    finally:
        stack.stop()
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the search index (one organisation's part, or all) from PostgreSQL,
    into the running cluster's search shards, with a progress bar."""
    import asyncio

    import ray
    from tqdm import tqdm

    from search.reindex import count_tasks, organisations, reindex
    from search.shards import ShardHandles
    from storage.db import create_engine

    settings = _settings(args)
    if not settings.database_url:
        print("taskhive: reindex needs TASKHIVE_DATABASE_URL (or --database-url)", file=sys.stderr)
        return 2
    ray.init(address=args.address, namespace="taskhive", logging_level=logging.WARNING)

    async def run() -> int:
        engine = create_engine(settings.database_url or "", pool_size=2)
        try:
            handles = await ShardHandles().all()
            orgs = await organisations(engine, args.org)
            with tqdm(total=await count_tasks(engine, orgs), unit="task") as bar:
                return await reindex(
                    engine, handles, orgs, whole=args.org is None, progress=bar.update
                )
        finally:
            await engine.dispose()

    try:
        docs = asyncio.run(run())
    finally:
        ray.shutdown()
    print(f"taskhive: search index rebuilt; {docs} documents in the affected shards")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    parser = argparse.ArgumentParser(prog="taskhive", description="Run and operate Taskhive.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Taskhive (embedded database and cache unless configured)")
    up.add_argument("--data-dir", type=Path, help="where data lives (TASKHIVE_DATA_DIR)")
    up.add_argument("--port", type=int, help="HTTP port (TASKHIVE_PORT, default 8000)")
    up.set_defaults(func=cmd_up)
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--data-dir", type=Path, help="data dir of an embedded database")
    migrate.add_argument("--database-url", help="PostgreSQL URL (TASKHIVE_DATABASE_URL)")
    migrate.set_defaults(func=cmd_migrate)
    reports = sub.add_parser("reports", help="analytics maintenance")
    reports_sub = reports.add_subparsers(dest="reports_command", required=True)
    rebuild = reports_sub.add_parser("rebuild", help="recompute reports from the event log")
    rebuild.add_argument(
        "--project", type=uuid.UUID, help="one project's id (default: every project)"
    )
    rebuild.add_argument("--data-dir", type=Path, help="data dir of an embedded database")
    rebuild.add_argument("--database-url", help="PostgreSQL URL (TASKHIVE_DATABASE_URL)")
    rebuild.set_defaults(func=cmd_reports_rebuild)
    reindex = sub.add_parser("reindex", help="rebuild the search index from PostgreSQL")
    reindex.add_argument("--org", type=uuid.UUID, help="one organisation's id (default: all)")
    reindex.add_argument("--database-url", help="PostgreSQL URL (TASKHIVE_DATABASE_URL)")
    reindex.add_argument("--address", default="auto", help="Ray address of the running cluster")
    reindex.set_defaults(func=cmd_reindex)
    transfer_cli.add_commands(sub)
    backup_cli.add_commands(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
