"""Projects: key rules and the project's editable settings."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.custom_fields import FieldDef
from domain.errors import InvalidInput
from domain.workflow import COLOR, Workflow
from domain.workflow_templates import DEFAULT_STATUS_IDS, template

KEY_PATTERN = re.compile(r"[A-Z]{2,10}")
NAME_MAX = 120
DESCRIPTION_MAX = 10_000
LABEL_NAME_MAX = 64
LABELS_MAX = 200

#: Status ids of the default (Kanban) workflow a project starts with.
DEFAULT_STATUSES: tuple[str, ...] = DEFAULT_STATUS_IDS

#: `settings.wip_mode`: "enforce" (default) rejects a move past a WIP limit, "warn"
#: lets it through and flags it in the event.
WIP_MODES = ("enforce", "warn")

#: Fields of a project a client may change after creation. The key is fixed for
#: life: task keys (`WEB-42`) are derived from it and are referenced outside.
EDITABLE_FIELDS = frozenset({"name", "description", "team_ids", "settings", "time_zone"})

#: The zone a project's reports count days in unless it names another.
DEFAULT_TIME_ZONE = "UTC"


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
    workflow: Workflow = field(default_factory=template)
    #: The project's label set: name → colour.
    labels: Mapping[str, str] = field(default_factory=dict)
    #: The IANA zone whose days the project's reports count in.
    time_zone: str = DEFAULT_TIME_ZONE
    #: Custom field definitions (`domain.custom_fields`), in display order.
    fields: tuple[FieldDef, ...] = ()

    @property
    def statuses(self) -> tuple[str, ...]:
        """The status ids a task of this project may take, in workflow order."""
        return self.workflow.ids

    @property
    def wip_warn_only(self) -> bool:
        return self.settings.get("wip_mode") == "warn"

    @property
    def parallel_sprints(self) -> bool:
        return self.settings.get("parallel_sprints") is True

    def labels_json(self) -> list[dict[str, str]]:
        return [{"name": n, "color": c} for n, c in self.labels.items()]

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
            "time_zone": self.time_zone,
            "custom_fields": [f.as_json() for f in self.fields],
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


def check_time_zone(name: object) -> str:
    """An IANA time zone name (`Europe/Paris`), as the zone database spells it."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidInput.field("time_zone", "must be an IANA time zone name like Europe/Paris")
    if name not in _zone_names():
        raise InvalidInput.field("time_zone", f"unknown time zone {name!r}")
    return name


@functools.cache
def _zone_names() -> frozenset[str]:
    # The database's list, not "any file ZoneInfo can open": that would take
    # `localtime` or `posixrules`, which are not zones a user can name.
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules"}


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the settings the server interprets; other keys are kept as given."""
    out = dict(settings)
    if "statuses" in out:
        raise InvalidInput.field(
            "settings", "statuses are defined by the workflow: PUT /projects/{id}/workflow"
        )
    if out.get("wip_mode", "enforce") not in WIP_MODES:
        raise InvalidInput.field("settings", "wip_mode must be 'enforce' or 'warn'")
    if not isinstance(out.get("parallel_sprints", False), bool):
        raise InvalidInput.field("settings", "parallel_sprints must be true or false")
    return out


def check_labels(raw: Any) -> dict[str, str]:
    """A label set: a list of `{name, color}` with unique names (case-insensitive)."""
    if not isinstance(raw, list) or len(raw) > LABELS_MAX:
        raise InvalidInput.field("labels", f"must be a list of at most {LABELS_MAX} labels")
    out: dict[str, str] = {}
    for item in raw:
        name = item.get("name") if isinstance(item, Mapping) else None
        color = item.get("color", "#8a8f98") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name.strip() or len(name) > LABEL_NAME_MAX:
            raise InvalidInput.field("labels", f"names must be 1 to {LABEL_NAME_MAX} characters")
        if not isinstance(color, str) or not COLOR.fullmatch(color):
            raise InvalidInput.field("labels", "colours must be like #1f6feb")
        if name.strip().lower() in {n.lower() for n in out}:
            raise InvalidInput.field("labels", f"label {name!r} is listed twice")
        out[name.strip()] = color.lower()
    return out
