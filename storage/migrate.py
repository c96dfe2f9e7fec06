"""Apply the schema migrations: `upgrade(url)` brings a database to the newest revision."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from storage.db import async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Idempotent: a database already at `revision` is left as it is. The default
    applies every branch head, so independently added migrations all run."""
    command.upgrade(alembic_config(url), revision)


_PARTITION = re.compile(r"^tasks_p\d+$")


def include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """Schema comparison filter: partitions of `tasks` (and their indexes) are made
    by the migration itself and are not tables of their own in the metadata."""
    if type_ == "table":
        return not (name and _PARTITION.match(name))
    if type_ in ("index", "unique_constraint", "column"):
        return not _PARTITION.match(parent_names.get("table_name") or "")
    return True
