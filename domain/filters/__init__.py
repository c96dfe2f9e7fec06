"""The filter language shared by search, task lists, boards and saved views.

    parse(text) → Query            (parser.py; FilterSyntaxError with a position)
    print_query(Query) → text      (printer.py; parse(print_query(q)) == q)
    resolve(Query, Scope) → Predicate, Sort   (resolve.py; needs the org's facts)
    matches(Predicate, TaskFacts) → bool      (evaluate.py; in-memory backend)

The search index (`search.query`) and PostgreSQL (`storage.task_filter_sql`)
translate the same predicates, so one filter means the same everywhere.
"""

from domain.filters.ast import (
    And,
    CustomField,
    Field,
    HasCustom,
    Node,
    Not,
    Op,
    Or,
    Query,
    Sort,
    SortKey,
    Text,
)
from domain.filters.custom import ScopedField
from domain.filters.errors import FilterSyntaxError
from domain.filters.evaluate import TaskFacts, matches
from domain.filters.parser import combine, parse, parse_filters
from domain.filters.printer import print_query
from domain.filters.resolve import Scope, resolve

__all__ = [
    "And",
    "CustomField",
    "Field",
    "FilterSyntaxError",
    "HasCustom",
    "Node",
    "Not",
    "Op",
    "Or",
    "Query",
    "Scope",
    "ScopedField",
    "Sort",
    "SortKey",
    "TaskFacts",
    "Text",
    "combine",
    "matches",
    "parse",
    "parse_filters",
    "print_query",
    "resolve",
]
