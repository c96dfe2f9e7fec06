"""The filter language's syntax tree: what the parser returns and the printer prints.

Nodes are small immutable values, so two parses of the same text compare equal and
a tree can cross a Ray call or be stored with a saved view. `And` and `Or` are kept
flat (an `And` never holds an `And` directly) and hold at least two children: the
parser builds them that way and the printer relies on it for a stable round trip.

A project's custom fields are named `cf.Name` or, when the name has more than
letters, digits and `_`, `cf."Story points"` (`custom_ref` spells it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_BARE_NAME = re.compile(r"[A-Za-z0-9_]+")


def custom_ref(name: str) -> str:
    """How a custom field is named in filter text: `cf.Severity`, `cf."Story points"`."""
    if _BARE_NAME.fullmatch(name):
        return f"cf.{name}"
    return 'cf."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Op(StrEnum):
    """How a field's value compares: `label:x` is EQ, `created:>2026-01-01` is GT."""

    EQ = ":"
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


@dataclass(frozen=True, slots=True)
class Text:
    """Free text: one word, or a quoted phrase whose words must appear in order."""

    value: str
    phrase: bool = False
    #: Offset of the word in the source text (not part of equality).
    pos: int = -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.value, self.phrase) == (other.value, other.phrase)

    def __hash__(self) -> int:
        return hash((Text, self.value, self.phrase))


@dataclass(frozen=True, slots=True)
class Field:
    """`name:value`, `name:>value` …; the value as written (unquoted)."""

    name: str
    op: Op
    value: str
    #: Offset of the value in the source text (not part of equality).
    pos: int = -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.name, self.op, self.value) == (
            other.name,
            other.op,
            other.value,
        )

    def __hash__(self) -> int:
        return hash((Field, self.name, self.op, self.value))


@dataclass(frozen=True, slots=True)
class CustomField:
    """`cf."Story points":>3`, `cf.Severity:high,low`: a custom field (by its name as
    written, or its id) compared with one value, or with `:` any of several values."""

    name: str
    op: Op
    values: tuple[str, ...]
    #: Offset of the field in the source text (not part of equality).
    pos: int = -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CustomField) and (self.name, self.op, self.values) == (
            other.name,
            other.op,
            other.values,
        )

    def __hash__(self) -> int:
        return hash((CustomField, self.name, self.op, self.values))


@dataclass(frozen=True, slots=True)
class HasCustom:
    """`has:cf.Severity`: the task holds a value for the custom field."""

    name: str
    #: Offset of the field's name in the source text (not part of equality).
    pos: int = -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HasCustom) and self.name == other.name

    def __hash__(self) -> int:
        return hash((HasCustom, self.name))


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = Text | Field | CustomField | HasCustom | Not | And | Or


class SortKey(StrEnum):
    RELEVANCE = "relevance"
    UPDATED = "updated"
    CREATED = "created"
    DUE = "due"
    PRIORITY = "priority"
    #: A custom field of type number or date (`sort:cf."Story points"-desc`).
    CUSTOM = "cf"


@dataclass(frozen=True, slots=True)
class Sort:
    """An order. For `SortKey.CUSTOM`, `field` is the field's name as written;
    `resolve` fills `field_ids` (the fields of that name, one per project, which
    never share a task) and `numeric` (numbers, else ISO dates). Tasks without a
    value come last either way."""

    key: SortKey
    descending: bool = True
    field: str | None = None
    field_ids: tuple[str, ...] = ()
    numeric: bool = True

    def as_text(self) -> str:
        if self.key is SortKey.RELEVANCE:
            return "relevance"
        direction = "desc" if self.descending else "asc"
        if self.key is SortKey.CUSTOM:
            return f"{custom_ref(self.field or '')}-{direction}"
        return f"{self.key.value}-{direction}"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed filter: the condition (None: everything) and an optional order."""

    expr: Node | None = None
    sort: Sort | None = None
