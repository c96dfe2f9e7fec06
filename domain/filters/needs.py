"""Which facts of the organisation a parsed query needs to be resolved and run.

`resolve` reads a `Scope` and the SQL backend reads each project's status
categories; gathering all of them costs a read of every project's workflow and
custom fields, of the members and of the active sprints. Most queries name none
of these (free text, labels, priorities, dates), so `needs_of` tells the caller
which to load. It errs on the side of loading: whenever the scope could change
what `resolve` returns, the fact is needed, so a query resolves the same with the
facts it needs as with all of them (`tests/unit/test_filter_needs.py` checks
this against the whole scope).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from domain.filters.ast import (
    And,
    CustomField,
    Field,
    HasCustom,
    Node,
    Not,
    Or,
    Query,
    SortKey,
    Text,
)
from domain.filters.fields import is_uuid

_CATEGORY_WORDS = frozenset({"todo", "in_progress", "done", "open", "closed"})
_NO_CATEGORY_IS = frozenset({"unassigned", "assigned"})


@dataclass(frozen=True, slots=True)
class Needs:
    """Facts to load; each flag is one kind of name the query uses."""

    #: Project keys (`project:WEB`).
    project_keys: bool = False
    #: Status names across the workflows (`status:"In review"`).
    statuses: bool = False
    #: Each project's status → category, for matching a category in SQL (`is:open`).
    categories: bool = False
    #: Members' emails (`assignee:ann@example.com`, a user custom field by email).
    people: bool = False
    #: The active sprints (`sprint:current`).
    sprints: bool = False
    #: Every custom field definition (`cf.Severity:high`, `has:cf.X`, `sort:cf.X-desc`).
    custom_fields: bool = False
    #: The text custom fields, which free text also searches in SQL and in memory.
    text_fields: bool = False

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            **{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        )

    @property
    def projects(self) -> bool:
        """Whether anything is read from the projects' rows."""
        return (
            self.project_keys
            or self.statuses
            or self.categories
            or self.custom_fields
            or self.text_fields
        )


NOTHING = Needs()
EVERYTHING = Needs(**{f.name: True for f in fields(Needs)})


def needs_of(query: Query) -> Needs:
    """The facts resolving `query` (and running it in SQL or in memory) reads."""
    found = NOTHING
    if query.sort is not None and query.sort.key is SortKey.CUSTOM:
        found = Needs(custom_fields=True)
    pending: list[Node] = [query.expr] if query.expr is not None else []
    while pending:
        node = pending.pop()
        match node:
            case Not(child=child):
                pending.append(child)
            case And(children=children) | Or(children=children):
                pending.extend(children)
            case _:
                found = found | _leaf(node)
    return found


def _leaf(node: Node) -> Needs:
    match node:
        case Text():
            return Needs(text_fields=True)
        case Field():
            return _field(node)
        case CustomField(values=values):
            # A user field takes an email; which fields are user fields is known
            # only once they are loaded, so any value that could be one asks.
            return Needs(custom_fields=True, people=any("@" in v for v in values))
        case HasCustom():
            return Needs(custom_fields=True)
    return NOTHING  # pragma: no cover


def _field(f: Field) -> Needs:
    v = f.value.lower()
    match f.name:
        case "assignee" | "reporter":
            named = (
                v != "me" and not is_uuid(f.value) and not (f.name == "assignee" and v == "none")
            )
            return Needs(people=named)
        case "status":
            return Needs(statuses=True, categories=v in _CATEGORY_WORDS)
        case "project":
            return Needs(project_keys=not is_uuid(f.value))
        case "sprint":
            return Needs(sprints=v == "current")
        case "is":
            return Needs(categories=v not in _NO_CATEGORY_IS)
        case "due":
            return Needs(categories=v == "overdue")
    return NOTHING
