"""Automation rules: when something happens to a task (trigger) and the task
then matches a filter (condition), do something (actions).

Rules run after the fact, from the event stream, never inside the user's
write; what they change goes through the project's grain like any other write,
marked `caused_by: {rule_id, depth}`. A change a rule caused may trigger other
rules, at most `MAX_DEPTH` levels deep: the run that would go deeper is logged
as `loop_stopped` and does nothing. A rule that fails `DISABLE_AFTER` times in
a row is switched off and its owner told.

Triggers: `task_created`; `field_changed` (`field`: a task field or a custom
field's id); `status_changed` (optional `from`/`to` status ids);
`comment_added`; `schedule` (`every`: `daily` or `weekly`, `hour` 0 to 23 UTC,
`weekday` 0 to 6 from Monday for weekly: acts on every task matching the
condition); `due_soon` (`days` 0 to 30: acts once per due date on each open task
due within that many days, checked hourly).

Actions: `set_field` (`field`, `value`), `transition` (`to`), `assign`
(`user_id` or null), `add_label` (`label`), `add_comment` (`body`), `notify`
(`user_ids`), `call_webhook` (`webhook_id`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
from domain.filters import parse
from domain.tasks import EDITABLE_FIELDS

MAX_DEPTH = 3
DISABLE_AFTER = 10
MAX_ACTIONS = 10
NAME_MAX = 100

TRIGGERS = (
    "task_created",
    "field_changed",
    "status_changed",
    "comment_added",
    "schedule",
    "due_soon",
)
#: Triggers that look for tasks at times rather than react to events.
TIMED = ("schedule", "due_soon")
#: Tasks one firing of a timed rule acts on at most.
MAX_TASKS_PER_FIRING = 500
ACTIONS = (
    "set_field",
    "transition",
    "assign",
    "add_label",
    "add_comment",
    "notify",
    "call_webhook",
)


@dataclass(frozen=True, slots=True)
class Trigger:
    type: str
    field: str | None = None
    source: str | None = None  # status_changed: from
    target: str | None = None  # status_changed: to
    every: str | None = None  # schedule: daily or weekly
    hour: int = 0  # schedule: UTC hour
    weekday: int = 0  # schedule, weekly: Monday is 0
    days: int = 0  # due_soon

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.field is not None:
            out["field"] = self.field
        if self.source is not None:
            out["from"] = self.source
        if self.target is not None:
            out["to"] = self.target
        if self.type == "schedule":
            out |= {"every": self.every, "hour": self.hour}
            if self.every == "weekly":
                out["weekday"] = self.weekday
        if self.type == "due_soon":
            out["days"] = self.days
        return out

    def next_firing(self, after: datetime) -> datetime:
        """The first time after `after` this timed trigger looks for tasks."""
        after = after.astimezone(UTC)
        if self.type == "due_soon":
            return after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        at = after.replace(hour=self.hour, minute=0, second=0, microsecond=0)
        step = timedelta(days=1)
        while at <= after or (self.every == "weekly" and at.weekday() != self.weekday):
            at += step
        return at


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput.field(field, message)


def check_trigger(raw: Any) -> Trigger:
    if not isinstance(raw, Mapping) or raw.get("type") not in TRIGGERS:
        raise _bad("trigger", f"type must be one of: {', '.join(TRIGGERS)}")
    kind = raw["type"]
    allowed = {"type"} | {
        "field_changed": {"field"},
        "status_changed": {"from", "to"},
        "schedule": {"every", "hour", "weekday"},
        "due_soon": {"days"},
    }.get(kind, set())
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _bad("trigger", f"{kind} takes no {unknown[0]!r}")
    for name in ("field", "from", "to"):
        if name in raw and (not isinstance(raw[name], str) or not raw[name]):
            raise _bad("trigger", f"{name} must be a non-empty string")
    if kind == "field_changed" and "field" not in raw:
        raise _bad("trigger", "field_changed needs the field it watches")
    if kind == "schedule":
        every = raw.get("every")
        if every not in ("daily", "weekly"):
            raise _bad("trigger", "a schedule runs every 'daily' or 'weekly'")
        hour = _int(raw.get("hour", 0), 0, 23, "hour")
        weekday = _int(raw.get("weekday", 0), 0, 6, "weekday")
        return Trigger(kind, every=every, hour=hour, weekday=weekday)
    if kind == "due_soon":
        return Trigger(kind, days=_int(raw.get("days", 1), 0, 30, "days"))
    return Trigger(kind, raw.get("field"), raw.get("from"), raw.get("to"))


def _int(value: Any, low: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad("trigger", f"{name} must be a whole number from {low} to {high}")
    return value


def check_condition(text: Any) -> str:
    """The condition as given, if it parses (a filter-language error points at
    its position)."""
    if text is None:
        return ""
    if not isinstance(text, str) or len(text) > 2000:
        raise _bad("condition", "must be a filter of at most 2,000 characters")
    parse(text)  # names (custom fields, statuses) are checked against the project
    return text.strip()


def check_actions(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ACTIONS:
        raise _bad("actions", f"a rule has 1 to {MAX_ACTIONS} actions")
    return [_action(a, i) for i, a in enumerate(raw)]


def _action(raw: Any, i: int) -> dict[str, Any]:
    where = f"actions[{i}]"
    if not isinstance(raw, Mapping) or raw.get("type") not in ACTIONS:
        raise _bad(where, f"type must be one of: {', '.join(ACTIONS)}")
    kind = raw["type"]
    needs: dict[str, set[str]] = {
        "set_field": {"field", "value"},
        "transition": {"to"},
        "assign": {"user_id"},
        "add_label": {"label"},
        "add_comment": {"body"},
        "notify": {"user_ids"},
        "call_webhook": {"webhook_id"},
    }
    expected = needs[kind] | {"type"}
    if set(raw) != expected:
        missing = sorted(expected - set(raw)) or sorted(set(raw) - expected)
        raise _bad(where, f"{kind} takes exactly {sorted(expected - {'type'})}; not {missing[0]!r}")
    out = dict(raw)
    match kind:
        case "set_field":
            field = raw["field"]
            if not isinstance(field, str) or not (
                field in EDITABLE_FIELDS or field.startswith("cf:")
            ):
                raise _bad(where, "field is a task field or cf:<custom field id or name>")
        case "transition" | "add_label":
            key = "to" if kind == "transition" else "label"
            if not isinstance(raw[key], str) or not raw[key]:
                raise _bad(where, f"{key} must be a non-empty string")
        case "assign":
            out["user_id"] = _uuid(raw["user_id"], where, none_ok=True)
        case "add_comment":
            body = raw["body"]
            if not isinstance(body, str) or not body.strip() or len(body) > 10_000:
                raise _bad(where, "body must be 1 to 10,000 characters")
        case "notify":
            ids = raw["user_ids"]
            if not isinstance(ids, list) or not 1 <= len(ids) <= 50:
                raise _bad(where, "user_ids lists 1 to 50 users")
            out["user_ids"] = [_uuid(u, where, none_ok=False) for u in ids]
        case "call_webhook":
            out["webhook_id"] = _uuid(raw["webhook_id"], where, none_ok=False)
    return out


def _uuid(value: Any, where: str, *, none_ok: bool) -> str | None:
    if value is None and none_ok:
        return None
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise _bad(where, f"{value!r} is not an id") from None


def check_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > NAME_MAX:
        raise _bad("name", f"must be 1 to {NAME_MAX} characters")
    return raw.strip()


def fires(trigger: Trigger, event_type: str, payload: Mapping[str, Any]) -> bool:
    """Whether a committed event `(type, payload)` is what the trigger waits for."""
    match trigger.type:
        case "task_created":
            return event_type == "task.created"
        case "comment_added":
            return event_type == "comment.created"
        case "status_changed":
            if event_type != "task.updated" or "status" not in payload.get("changes", {}):
                return False
            before = payload.get("from", {}).get("status")
            after = payload["changes"]["status"]
            return (trigger.source in (None, before)) and (trigger.target in (None, after))
        case "field_changed":
            if event_type != "task.updated":
                return False
            changes = payload.get("changes", {})
            if trigger.field in changes:
                return True
            custom = changes.get("custom_fields")
            previous = payload.get("from", {}).get("custom_fields") or {}
            return isinstance(custom, Mapping) and (
                custom.get(trigger.field or "") != previous.get(trigger.field or "")
            )
    return False


def depth_of(payload: Mapping[str, Any]) -> int:
    """How many rules deep the change behind an event is (0: a person's)."""
    caused = payload.get("caused_by")
    if isinstance(caused, Mapping) and isinstance(caused.get("depth"), int):
        return int(caused["depth"])
    return 0


def task_changes(actions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The task fields the actions set, merged (custom fields under `custom_fields`).

    `add_label` is applied by the caller, who knows the current labels.
    """
    changes: dict[str, Any] = {}
    for a in actions:
        match a["type"]:
            case "set_field" if str(a["field"]).startswith("cf:"):
                changes.setdefault("custom_fields", {})[a["field"][3:]] = a["value"]
            case "set_field":
                changes[a["field"]] = a["value"]
            case "transition":
                changes["status"] = a["to"]
            case "assign":
                changes["assignee_id"] = a["user_id"]
    return changes


def occasion_for_event(version: int) -> str:
    return f"v{version}"


def occasion_for_firing(at: datetime) -> str:
    return f"s{at.astimezone(UTC):%Y%m%dT%H}"


def occasion_for_due(due: date) -> str:
    return f"d{due.isoformat()}"


def due_window(trigger: Trigger, now: datetime) -> tuple[date, date]:
    """The due dates a `due_soon` trigger acts on at `now` (inclusive, UTC days)."""
    today = now.astimezone(UTC).date()
    return today, today + timedelta(days=trigger.days)
