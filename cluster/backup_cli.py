"""`taskhive backup` and `taskhive restore` (the archive format is in `storage.backup`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from cluster.settings import Settings
from cluster.stack import Stack
from storage import backup as archive


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.database_url is not None:
        overrides["database_url"] = args.database_url
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.data_dir = settings.data_dir.resolve()
    return settings


def cmd_backup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stack = Stack(settings)
    try:
        stack.start_storage()  # an embedded database is started (and migrated) if none is set
        summary = asyncio.run(
            archive.backup(stack.database_url, settings.blob_config(), args.archive.resolve())
        )
    except archive.BackupError as exc:
        print(f"taskhive: backup failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    print(
        f"taskhive: wrote {summary.archive} (database {summary.database_bytes} bytes, "
        f"{summary.blobs} blobs, {summary.blob_bytes} bytes) in {summary.seconds:.1f} s"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stack = Stack(settings)
    try:
        manifest = archive.read_manifest(args.archive)
        stack.start_storage()
        if asyncio.run(archive.database_has_data(stack.database_url)) and not args.force:
            print(
                "taskhive: the database already holds data; restoring replaces all of it. "
                "Stop Taskhive and pass --force to go ahead.",
                file=sys.stderr,
            )
            return 2
        summary = asyncio.run(
            archive.restore(stack.database_url, settings.blob_config(), args.archive)
        )
    except archive.BackupError as exc:
        print(f"taskhive: restore failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    print(
        f"taskhive: restored the backup of {manifest['created_at']} "
        f"({summary.blobs} blobs) in {summary.seconds:.1f} s"
    )
    return 0


def add_commands(sub: Any) -> None:
    """Add `backup` and `restore` to the `taskhive` command's subparsers."""
    for name, func, help_text in (
        ("backup", cmd_backup, "write the database and the blob store to one archive"),
        ("restore", cmd_restore, "replace the database and blobs with an archive's"),
    ):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("archive", type=Path, help="the archive file (a tar)")
        parser.add_argument("--data-dir", type=Path, help="data dir (TASKHIVE_DATA_DIR)")
        parser.add_argument("--database-url", help="PostgreSQL URL (TASKHIVE_DATABASE_URL)")
        if name == "restore":
            parser.add_argument(
                "--force", action="store_true", help="overwrite a database that holds data"
            )
        parser.set_defaults(func=func)
