"""The filter language's syntax tree: what the parser returns and the printer prints.

Nodes are small immutable values, so two parses of the same text compare equal and
a tree can cross a Ray call or be stored with a saved view. `And` and `Or` are kept
flat (an `And` never holds an `And` directly) and hold at least two children: the
parser builds them that way and the printer relies on it for a stable round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = Text | Field | Not | And | Or


class SortKey(StrEnum):
    RELEVANCE = "relevance"
    UPDATED = "updated"
    CREATED = "created"
    DUE = "due"
    PRIORITY = "priority"


@dataclass(frozen=True, slots=True)
class Sort:
    key: SortKey
    descending: bool = True

    def as_text(self) -> str:
        if self.key is SortKey.RELEVANCE:
            return "relevance"
        return f"{self.key.value}-{'desc' if self.descending else 'asc'}"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed filter: the condition (None: everything) and an optional order."""

    expr: Node | None = None
    sort: Sort | None = None
