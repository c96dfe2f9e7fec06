"""Custom fields in imports and exports: values in the words of a file, and the
definitions an import brings into a project.

A file names fields and options by name and people by email (a Taskhive export
keys values by field id and option id; `source_values` turns them into names
with the export's own definitions). Planning (`planned_values`) checks each
value against the field of that name in the target project — or the definition
the file brings when the project has no such field yet, which the import
creates before its first batch (`fields_to_create`). The grain stores names as
ids, so new option ids need not be known while planning.

Jira's story points (`Custom field (Story Points)`, `Story Points`) also fill
a number field named like them, when the project has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from domain.custom_fields import FieldDef, FieldType, check_value
from domain.errors import DomainError

#: Number field names that receive Jira's story points (lower case).
STORY_POINT_FIELDS = ("story points", "story point estimate")

#: `(field name, value)` pairs of one row: option names, emails for user fields.
SourceValues = tuple[tuple[str, Any], ...]


def source_values(
    values: Mapping[str, Any], fields: Mapping[str, FieldDef], people: Mapping[str, str]
) -> SourceValues:
    """A Taskhive export's `{field id: value}` as names (fields the file does not
    define are dropped); `people` maps user ids to emails."""
    out: list[tuple[str, Any]] = []
    for field_id, value in values.items():
        field = fields.get(field_id)
        if field is None:
            continue
        out.append((field.name, _as_words(field, value, people)))
    return tuple(out)


def _as_words(field: FieldDef, value: Any, people: Mapping[str, str]) -> Any:
    names = {o.id: o.name for o in field.options}
    if field.type is FieldType.SINGLE_SELECT:
        return names.get(value, value)
    if field.type is FieldType.MULTI_SELECT and isinstance(value, list):
        return [names.get(v, v) for v in value]
    if field.type is FieldType.USER:
        return people.get(str(value), str(value))
    return value


def display_value(field: FieldDef, value: Any, emails: Mapping[str, str]) -> str:
    """A value as a CSV export shows it: option names, emails, `true`/`false`."""
    if value is None:
        return ""
    shown = _as_words(field, value, emails)
    if isinstance(shown, bool):
        return "true" if shown else "false"
    if isinstance(shown, list):
        return ",".join(str(v) for v in shown)
    if isinstance(shown, float) and shown.is_integer():
        return str(int(shown))
    return str(shown)


def fields_to_create(
    brought: Sequence[FieldDef], existing: Sequence[FieldDef]
) -> tuple[list[FieldDef], list[str]]:
    """The definitions a file brings that the project lacks (by name), and problems:
    a field of the same name but another type."""
    have = {f.name.lower(): f for f in existing}
    new: list[FieldDef] = []
    problems: list[str] = []
    for field in brought:
        found = have.get(field.name.lower())
        if found is None:
            new.append(field)
        elif found.type is not field.type:
            problems.append(
                f"field {field.name!r} is {field.type.value} in the file but "
                f"{found.type.value} in this project"
            )
    return new, problems


def creation_body(field: FieldDef) -> dict[str, Any]:
    """What `CreateField` needs to re-create a brought definition (new ids)."""
    body: dict[str, Any] = {"name": field.name, "type": field.type.value}
    if field.options:
        body["options"] = [{"name": o.name, "color": o.color} for o in field.options]
    if field.required:
        body["required"] = True
    if field.show_on_card:
        body["show_on_card"] = True
    if field.default is not None:
        body["default"] = _as_words(field, field.default, {})
    return body


_TRUE = frozenset({"true", "yes", "y", "1", "x", "✓", "checked"})
_FALSE = frozenset({"false", "no", "n", "0", "unchecked"})


def from_text(field: FieldDef, text: str) -> Any:
    """A CSV cell as the field's value: numbers parsed, checkboxes from
    yes/no/true/false/1/0/x, several options split on `,` or `;`; other types
    as written (option names and emails are resolved later). ValueError when
    the cell cannot be one."""
    if field.type is FieldType.NUMBER:
        text = text.strip()
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if field.type is FieldType.CHECKBOX:
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not yes/no, true/false or 1/0")
    if field.type is FieldType.MULTI_SELECT:
        return [x.strip() for x in text.replace(";", ",").split(",") if x.strip()]
    return text


def planned_values(
    values: SourceValues,
    estimate: float | None,
    fields: Mapping[str, FieldDef],
    person: Callable[[str], UUID | None],
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`{field name: value}` for a new task, and `(column, reason)` problems.

    `fields` are the target's definitions by lower-cased name; `person` maps an
    email to a member's id (None, and a warning by the caller, if none)."""
    out: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, raw in values:
        field = fields.get(name.lower())
        if field is None or raw is None:
            continue
        try:
            value = from_text(field, raw) if isinstance(raw, str) else raw
        except ValueError as error:
            problems.append((name, str(error)))
            continue
        if field.type is FieldType.USER:
            found = person(str(raw))
            if found is None:
                continue
            value = str(found)
        try:
            check_value(field, value)
        except DomainError as error:
            problems.append((name, error.detail))
            continue
        out[field.name] = value
    if estimate is not None:
        for name in STORY_POINT_FIELDS:
            field = fields.get(name)
            if field is not None and field.type is FieldType.NUMBER and field.name not in out:
                out[field.name] = estimate
                break
    return out, problems
