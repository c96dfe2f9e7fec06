"""Projects: key rules and the project's editable settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput

KEY_PATTERN = re.compile(r"[A-Z]{2,10}")
NAME_MAX = 120
DESCRIPTION_MAX = 10_000

#: Statuses a project starts with until it defines its own workflow.
DEFAULT_STATUSES: tuple[str, ...] = ("open", "in_progress", "in_review", "done")

#: Fields of a project a client may change after creation. The key is fixed for
#: life: task keys (`WEB-42`) are derived from it and are referenced outside.
EDITABLE_FIELDS = frozenset({"name", "description", "team_ids", "settings"})


@dataclass(frozen=True, slots=True)
class Project:
    id: UUID
    org_id: UUID
    key: str
    name: str
    description: str
    owner_id: UUID
    team_ids: tuple[UUID, ...]
    settings: Mapping[str, Any]
    created_at: datetime
    version: int = 0
    epoch: int = 0
    task_seq: int = 0
    statuses: tuple[str, ...] = field(default=DEFAULT_STATUSES)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "key": self.key,
            "description": self.description,
            "owner_id": str(self.owner_id),
            "team_ids": [str(t) for t in self.team_ids],
            "settings": dict(self.settings),
            "created_at": self.created_at.isoformat(),
            "version": self.version,
        }


def derive_key(name: str) -> str:
    """A project key from its name: initials of the words, else the first letters.

    `"Web Platform"` → `"WP"`, `"Marketing"` → `"MARK"`, `"a"` → `"AX"`.
    """
    words = re.findall(r"[A-Za-z]+", name)
    if len(words) >= 2:
        key = "".join(w[0] for w in words)[:10].upper()
    elif words:
        key = words[0][:4].upper()
    else:
        key = ""
    return (key + "XX")[:2] if len(key) < 2 else key


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput.field("key", "must be 2 to 10 uppercase letters")
    return key


def check_name(name: str) -> str:
    if not name.strip():
        raise InvalidInput.field("name", "must not be blank")
    if len(name) > NAME_MAX:
        raise InvalidInput.field("name", f"must be at most {NAME_MAX} characters")
    return name.strip()


def statuses_from_settings(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The statuses a task of this project may take (workflow-less default)."""
    statuses = settings.get("statuses")
    if statuses is None:
        return DEFAULT_STATUSES
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(s, str) and s.strip() for s in statuses)
        or len(set(statuses)) != len(statuses)
    ):
        raise InvalidInput.field("settings", "statuses must be a non-empty list of unique names")
    return tuple(statuses)
