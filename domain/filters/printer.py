"""Printing a `Query` back to filter text that parses to the same tree.

Used for saved views (stored as the canonical text) and by the round-trip
property test.
"""

from __future__ import annotations

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
    Text,
    custom_ref,
)

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
        case CustomField(name=name, op=op, values=values):
            shown = "" if op is Op.EQ else op.value
            return f"{custom_ref(name)}:{shown}{','.join(_custom_value(v) for v in values)}"
        case HasCustom(name=name):
            return f"has:{custom_ref(name)}"
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


def _custom_value(value: str) -> str:
    """A custom field's value, quoted unless it reads back the same bare, also as
    the second value of a list (where `-x`, `cf.x` and `OR` would start anew)."""
    bare = (
        value
        and not (set(value) & _SPECIAL)
        and not value.startswith(("=", ">", "<", "-"))
        and value not in ("AND", "OR", "NOT")
        and value[:3].lower() != "cf."
    )
    return value if bare else _quote(value)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
