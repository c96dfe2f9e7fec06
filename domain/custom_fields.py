"""Custom fields: a project's field definitions and the values tasks hold for them.

Values live on the task keyed by the field's id (`custom_fields: {id: value}`);
options are stored by option id. So renaming a field or an option touches no
task, and deleting a field removes its values in the same commit (the grain
does that). Every check raises `InvalidInput` naming the field.

Value forms (JSON): text → string; number → number; date → "YYYY-MM-DD";
single_select → option id; multi_select → list of option ids; user → user id;
url → http(s) URL; checkbox → boolean. An option may also be given by its name
(case-insensitive) and is stored by id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from domain.errors import InvalidInput

MAX_FIELDS = 200
MAX_OPTIONS = 100
NAME_MAX = 64
TEXT_MAX = 10_000
URL_MAX = 2_000
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#8b949e"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"
    USER = "user"
    URL = "url"
    CHECKBOX = "checkbox"


SELECTS = (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT)


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    name: str
    color: str = DEFAULT_COLOR

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "color": self.color}


@dataclass(frozen=True, slots=True)
class FieldDef:
    id: str
    name: str
    type: FieldType
    required: bool = False
    default: Any = None
    options: tuple[Option, ...] = ()
    show_on_card: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type.value,
            "required": self.required,
            "default": self.default,
            "options": [o.as_json() for o in self.options],
            "show_on_card": self.show_on_card,
        }

    def option(self, ref: str) -> Option | None:
        for o in self.options:
            if o.id == ref:
                return o
        lowered = ref.strip().lower()
        return next((o for o in self.options if o.name.lower() == lowered), None)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput.field(field, message)


def definitions_from_json(raw: Sequence[Mapping[str, Any]] | None) -> tuple[FieldDef, ...]:
    """Definitions as stored (trusted: written by this module)."""
    return tuple(
        FieldDef(
            id=d["id"],
            name=d["name"],
            type=FieldType(d["type"]),
            required=bool(d.get("required")),
            default=d.get("default"),
            options=tuple(
                Option(o["id"], o["name"], o.get("color", DEFAULT_COLOR))
                for o in d.get("options", ())
            ),
            show_on_card=bool(d.get("show_on_card")),
        )
        for d in raw or ()
    )


def _name(raw: Any, others: Sequence[FieldDef], own_id: str | None) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > NAME_MAX:
        raise _bad("name", f"must be 1 to {NAME_MAX} characters")
    name = raw.strip()
    if any(f.name.lower() == name.lower() and f.id != own_id for f in others):
        raise _bad("name", f"the project already has a field named {name!r}")
    return name


def _options(raw: Any, previous: tuple[Option, ...] = ()) -> tuple[Option, ...]:
    """Options from `[{id?, name, color?}]`; an option keeps its id when given one."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_OPTIONS:
        raise _bad("options", f"a select field needs 1 to {MAX_OPTIONS} options")
    known = {o.id for o in previous}
    out: list[Option] = []
    for item in raw:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise _bad("options", "each option is a name or {name, color}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
            raise _bad("options", f"option names are 1 to {NAME_MAX} characters")
        color = item.get("color") or DEFAULT_COLOR
        if not isinstance(color, str) or not COLOR.fullmatch(color):
            raise _bad("options", "option colours look like #1f6feb")
        option_id = item.get("id")
        if option_id is not None and option_id not in known:
            raise _bad("options", f"no option with id {option_id!r}")
        out.append(Option(option_id or uuid4().hex[:12], name.strip(), color.lower()))
    names = [o.name.lower() for o in out]
    if len(set(names)) != len(names):
        raise _bad("options", "option names must be unique")
    return tuple(out)


def new_definition(raw: Mapping[str, Any], existing: Sequence[FieldDef]) -> FieldDef:
    """A field from `{name, type, required?, default?, options?, show_on_card?}`."""
    unknown = sorted(set(raw) - {"name", "type", "required", "default", "options", "show_on_card"})
    if unknown:
        raise _bad(unknown[0], "is not a property of a field")
    if len(existing) >= MAX_FIELDS:
        raise InvalidInput(f"a project has at most {MAX_FIELDS} custom fields")
    try:
        kind = FieldType(str(raw.get("type")))
    except ValueError:
        raise _bad("type", f"must be one of: {', '.join(t.value for t in FieldType)}") from None
    options: tuple[Option, ...] = ()
    if kind in SELECTS:
        options = _options(raw.get("options"))
    elif raw.get("options") is not None:
        raise _bad("options", "only select fields have options")
    field = FieldDef(
        id=uuid4().hex[:12],
        name=_name(raw.get("name"), existing, None),
        type=kind,
        required=_flag(raw, "required"),
        options=options,
        show_on_card=_flag(raw, "show_on_card"),
    )
    if raw.get("default") is not None:
        field = replace(field, default=check_value(field, raw["default"]))
    return field


def changed_definition(
    field: FieldDef, changes: Mapping[str, Any], existing: Sequence[FieldDef]
) -> FieldDef:
    """A field with `changes` (`name`, `required`, `default`, `options`, `show_on_card`).

    The type is fixed: values of one type do not convert into another.
    """
    if "type" in changes and changes["type"] != field.type.value:
        raise _bad("type", "a field's type cannot change; create a new field")
    unknown = sorted(
        set(changes) - {"name", "required", "default", "options", "show_on_card", "type"}
    )
    if unknown:
        raise _bad(unknown[0], "is not a property of a field")
    out = field
    if "name" in changes:
        out = replace(out, name=_name(changes["name"], existing, field.id))
    if "options" in changes:
        if field.type not in SELECTS:
            raise _bad("options", "only select fields have options")
        out = replace(out, options=_options(changes["options"], field.options))
    if "required" in changes:
        out = replace(out, required=_flag(changes, "required"))
    if "show_on_card" in changes:
        out = replace(out, show_on_card=_flag(changes, "show_on_card"))
    if "default" in changes:
        out = replace(
            out,
            default=None if changes["default"] is None else check_value(out, changes["default"]),
        )
    elif out.default is not None:
        out = replace(out, default=check_value(out, out.default))  # an option may be gone
    return out


def _flag(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name, "must be true or false")
    return value


def check_value(field: FieldDef, value: Any) -> Any:
    """The value in its stored form, or `InvalidInput` naming the field."""
    where = f"custom_fields.{field.name}"
    match field.type:
        case FieldType.TEXT:
            if not isinstance(value, str) or len(value) > TEXT_MAX:
                raise _bad(where, f"must be text of at most {TEXT_MAX} characters")
            return value
        case FieldType.NUMBER:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise _bad(where, "must be a number")
            return value
        case FieldType.DATE:
            try:
                return date.fromisoformat(value).isoformat()
            except (TypeError, ValueError):
                raise _bad(where, "must be a date like 2026-12-31") from None
        case FieldType.SINGLE_SELECT:
            return _option_id(field, value, where)
        case FieldType.MULTI_SELECT:
            if not isinstance(value, list):
                raise _bad(where, "must be a list of options")
            return list(dict.fromkeys(_option_id(field, v, where) for v in value))
        case FieldType.USER:
            try:
                return str(UUID(str(value)))
            except ValueError:
                raise _bad(where, "must be a user id") from None
        case FieldType.URL:
            parts = urlsplit(value) if isinstance(value, str) else None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.netloc
                or len(value) > URL_MAX
            ):
                raise _bad(where, "must be an http(s) URL")
            return value
        case FieldType.CHECKBOX:
            if not isinstance(value, bool):
                raise _bad(where, "must be true or false")
            return value
    raise _bad(where, "has an unknown type")  # pragma: no cover


def _option_id(field: FieldDef, value: Any, where: str) -> str:
    option = field.option(value) if isinstance(value, str) else None
    if option is None:
        names = ", ".join(o.name for o in field.options)
        raise _bad(where, f"{value!r} is not an option (options: {names})")
    return option.id


def field_by_ref(fields: Sequence[FieldDef], ref: str) -> FieldDef:
    for f in fields:
        if f.id == ref:
            return f
    lowered = ref.lower()
    for f in fields:
        if f.name.lower() == lowered:
            return f
    raise _bad(f"custom_fields.{ref}", "no such field in this project")


def values_after(
    fields: Sequence[FieldDef],
    current: Mapping[str, Any],
    changes: Any,
    *,
    creating: bool,
) -> dict[str, Any]:
    """A task's values after `changes` (`{field id or name: value}`, null clears).

    On creation, defaults fill fields left out; required fields must end up set.
    """
    if changes is None:
        changes = {}
    if not isinstance(changes, Mapping):
        raise _bad("custom_fields", "must be an object of field → value")
    out = dict(current)
    for ref, value in changes.items():
        field = field_by_ref(fields, str(ref))
        if value is None:
            out.pop(field.id, None)
        else:
            out[field.id] = check_value(field, value)
    if creating:
        for field in fields:
            if field.id not in out and field.default is not None:
                out[field.id] = field.default
    touched = {field_by_ref(fields, str(r)).id for r in changes}
    for field in fields:
        missing = out.get(field.id) in (None, [], "")
        if field.required and missing and (creating or field.id in touched):
            raise _bad(f"custom_fields.{field.name}", "is required")
    return out


def user_values(fields: Sequence[FieldDef], values: Mapping[str, Any]) -> set[UUID]:
    """The user ids held by `user` fields (the API checks they are members)."""
    users = {f.id for f in fields if f.type is FieldType.USER}
    return {UUID(v) for k, v in values.items() if k in users}
