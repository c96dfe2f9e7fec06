"""The filter language's parser: text → `Query`, or a `FilterSyntaxError` at a position.

Grammar (AND binds tighter than OR; juxtaposition means AND):

    query   := or_expr END
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary ("AND"? unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or_expr ")" | field | word | "phrase"

`sort:` may appear once, as a top-level condition (it orders, it does not filter).
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
    Sort,
    Text,
    custom_ref,
)
from domain.filters.errors import FilterSyntaxError
from domain.filters.fields import FIELDS, parse_sort
from domain.filters.lexer import Kind, Token, tokenize

MAX_DEPTH = 32


def parse(source: str) -> Query:
    """Parse a filter. Empty or blank text is the query that matches everything."""
    return _Parser(source).query()


def parse_filters(source: str) -> Query:
    """The brief's `filters=` form (`assignee:me,status:open`): the same language,
    whose commas already separate conditions."""
    return parse(source)


def combine(*queries: Query) -> Query:
    """All conditions of `queries` together (AND); the first sort given wins."""
    parts: list[Node] = []
    sort: Sort | None = None
    for q in queries:
        if q.expr is not None:
            parts.extend(q.expr.children if isinstance(q.expr, And) else [q.expr])
        sort = sort or q.sort
    expr: Node | None = None
    if len(parts) == 1:
        expr = parts[0]
    elif parts:
        expr = And(tuple(parts))
    return Query(expr, sort)


class _Parser:
    def __init__(self, source: str) -> None:
        self._source = source
        self._tokens = tokenize(source)
        self._i = 0
        self._depth = 0
        self._sort: Sort | None = None

    def _error(self, message: str, pos: int) -> FilterSyntaxError:
        return FilterSyntaxError(f"{message} (at position {pos})", pos, self._source)

    def _peek(self) -> Token:
        return self._tokens[self._i]

    def _next(self) -> Token:
        token = self._tokens[self._i]
        self._i += 1
        return token

    def query(self) -> Query:
        if self._peek().kind is Kind.END:
            return Query()
        expr = self._or()
        token = self._peek()
        if token.kind is Kind.RPAREN:
            raise self._error("unexpected ')': no '(' is open here", token.pos)
        if token.kind is not Kind.END:  # pragma: no cover - _or consumes all else
            raise self._error(f"unexpected {token.kind.value}", token.pos)
        kept = self._without_sort(expr)
        return Query(kept, self._sort)

    def _without_sort(self, expr: Node) -> Node | None:
        """Take top-level `sort:` conditions out of the tree; anywhere else is an error."""
        parts = expr.children if isinstance(expr, And) else (expr,)
        kept: list[Node] = []
        for part in parts:
            if isinstance(part, Field) and part.name == "sort":
                if self._sort is not None:
                    raise self._error("sort: may be given only once", part.pos)
                self._sort = parse_sort(part.value)
            else:
                self._reject_nested_sort(part)
                kept.append(part)
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else And(tuple(kept))

    def _reject_nested_sort(self, node: Node) -> None:
        if isinstance(node, Field) and node.name == "sort":
            raise self._error(
                "sort: orders the whole result; it cannot be negated or OR-ed", node.pos
            )
        if isinstance(node, Not):
            self._reject_nested_sort(node.child)
        elif isinstance(node, And | Or):
            for child in node.children:
                self._reject_nested_sort(child)

    def _or(self) -> Node:
        parts = [self._and()]
        while self._peek().kind is Kind.OR:
            self._next()
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        flat: list[Node] = []
        for part in parts:
            flat.extend(part.children if isinstance(part, Or) else (part,))
        return Or(tuple(flat))

    def _and(self) -> Node:
        parts = [self._unary()]
        while True:
            token = self._peek()
            if token.kind is Kind.AND:
                self._next()
                parts.append(self._unary())
            elif token.kind in (Kind.END, Kind.RPAREN, Kind.OR):
                break
            else:
                parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        flat: list[Node] = []
        for part in parts:
            flat.extend(part.children if isinstance(part, And) else (part,))
        return And(tuple(flat))

    def _unary(self) -> Node:
        token = self._peek()
        if token.kind is Kind.NOT:
            self._next()
            self._enter(token)
            child = self._unary()
            self._depth -= 1
            return Not(child)
        return self._primary()

    def _enter(self, token: Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._error(f"nested more than {MAX_DEPTH} deep", token.pos)

    def _primary(self) -> Node:
        token = self._next()
        match token.kind:
            case Kind.LPAREN:
                if self._peek().kind is Kind.RPAREN:
                    raise self._error("empty parentheses", token.pos)
                self._enter(token)
                inner = self._or()
                self._depth -= 1
                closing = self._next()
                if closing.kind is not Kind.RPAREN:
                    raise self._error("the '(' opened here is never closed", token.pos)
                return inner
            case Kind.WORD:
                return Text(token.text, pos=token.pos)
            case Kind.PHRASE:
                if not token.text.strip():
                    raise self._error("empty quotes", token.pos)
                return Text(token.text, phrase=True, pos=token.pos)
            case Kind.FIELD:
                return self._field(token)
            case Kind.CUSTOM:
                if len(token.values) > 1 and token.op is not Op.EQ:
                    raise self._error(
                        f"{custom_ref(token.text)}: a list of values needs ':', not "
                        f"'{token.op.value}'",
                        token.value_pos,
                    )
                return CustomField(token.text, token.op, token.values, pos=token.pos)
            case Kind.HAS_CUSTOM:
                return HasCustom(token.text, pos=token.pos)
            case Kind.END:
                raise self._error("the query ends where a condition was expected", token.pos)
            case Kind.RPAREN:
                raise self._error("unexpected ')' where a condition was expected", token.pos)
            case _:
                raise self._error(
                    f"unexpected {token.kind.value} where a condition was expected", token.pos
                )

    def _field(self, token: Token) -> Field:
        spec = FIELDS.get(token.text)
        if spec is None:
            known = ", ".join([*sorted(FIELDS), 'cf."<custom field>"'])
            raise self._error(
                f"unknown field '{token.text}' (known: {known}; quote text that has a colon)",
                token.pos,
            )
        if token.op not in spec.ops:
            raise self._error(f"{token.text}: does not compare with '{token.op.value}'", token.pos)
        problem = spec.check(token.value)
        if problem is not None:
            raise self._error(f"{token.text}: {problem}", token.value_pos)
        return Field(token.text, token.op, token.value, pos=token.value_pos)
