"""Printing a `Query` back to filter text that parses to the same tree.

Used for saved views (stored as the canonical text) and by the round-trip
property test.
"""

from __future__ import annotations

from domain.filters.ast import And, Field, Node, Not, Op, Or, Query, Text

_SPECIAL = frozenset(' \t\r\n,()"\\:')


def print_query(query: Query) -> str:
    parts: list[str] = []
    if query.expr is not None:
        text = print_node(query.expr)
        # A trailing sort would otherwise join the last operand of a top-level OR.
        parts.append(f"({text})" if query.sort and isinstance(query.expr, Or) else text)
    if query.sort is not None:
        parts.append(f"sort:{query.sort.as_text()}")
    return " ".join(parts)


def print_node(node: Node) -> str:
    match node:
        case Text(value=value, phrase=True):
            return _quote(value)
        case Text(value=value):
            return value
        case Field(name=name, op=op, value=value):
            bare = value and not (set(value) & _SPECIAL) and not value.startswith(("=", ">", "<"))
            shown = "" if op is Op.EQ else op.value
            return f"{name}:{shown}{value if bare else _quote(value)}"
        case Not(child=child):
            inner = print_node(child)
            return f"NOT ({inner})" if isinstance(child, And | Or) else f"NOT {inner}"
        case And(children=children):
            return " AND ".join(
                f"({print_node(c)})" if isinstance(c, Or) else print_node(c) for c in children
            )
        case Or(children=children):
            return " OR ".join(
                f"({print_node(c)})" if isinstance(c, And) else print_node(c) for c in children
            )
    raise TypeError(f"not a filter node: {node!r}")  # pragma: no cover


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
