"""Turning filter text into tokens, each with the offset it starts at.

Words are separated by whitespace or commas (so `assignee:me,status:open` is two
filters), parentheses stand alone, `"…"` quotes a phrase or a value (`\\"` and
`\\\\` escape inside it), `AND`/`OR`/`NOT` in capitals are operators and a leading
`-` negates what follows. `name:value`, `name:>value` … is a field; its name is
checked by the parser.

A custom field is `cf.` and its name, bare (up to the `:`) or quoted:
`cf."Story points":>3`. With `:`, values separated by commas are any of them
(`cf.Severity:high,low`); a comma followed by something that looks like another
condition (`name:…`, `cf.…`, `-…`, `AND`/`OR`/`NOT`) still starts that condition.
`has:cf.X` and `sort:cf.X-desc` name custom fields too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.filters.ast import Op, custom_ref
from domain.filters.errors import FilterSyntaxError

MAX_LENGTH = 2000

_STOP = frozenset(' \t\r\n,()"')
_FIELD_NAME = re.compile(r"[A-Za-z_]+")
_OPS = (">=", "<=", ">", "<")


class Kind(StrEnum):
    LPAREN = "("
    RPAREN = ")"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    WORD = "word"
    PHRASE = "phrase"
    FIELD = "field"
    CUSTOM = "custom field"
    HAS_CUSTOM = "has:cf"
    END = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    pos: int
    text: str = ""
    #: Fields only (`text` is then the field's name): operator, value, its offset.
    op: Op = Op.EQ
    value: str = ""
    value_pos: int = 0
    #: Custom fields only: every value (any of them), in order.
    values: tuple[str, ...] = ()


def tokenize(source: str) -> list[Token]:
    """All tokens of `source`, ending with an END token. Raises FilterSyntaxError."""
    if len(source) > MAX_LENGTH:
        raise FilterSyntaxError(
            f"the filter is longer than {MAX_LENGTH} characters (at position {MAX_LENGTH})",
            MAX_LENGTH,
            source,
        )
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in " \t\r\n,":
            i += 1
        elif ch == "(":
            tokens.append(Token(Kind.LPAREN, i))
            i += 1
        elif ch == ")":
            tokens.append(Token(Kind.RPAREN, i))
            i += 1
        elif ch == '"':
            text, end = _quoted(source, i)
            tokens.append(Token(Kind.PHRASE, i, text))
            i = end
        elif ch == "-" and i + 1 < n and source[i + 1] not in _STOP:
            tokens.append(Token(Kind.NOT, i, "-"))
            i += 1
        else:
            found = _custom(source, i) if _is_cf(source, i) else None
            token, i = found if found is not None else _word_or_field(source, i)
            tokens.append(token)
    tokens.append(Token(Kind.END, n))
    return tokens


def _quoted(source: str, start: int) -> tuple[str, int]:
    """The text of the quoted string opening at `start`, and the offset after it."""
    out: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source) and source[i + 1] in '"\\':
            out.append(source[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise FilterSyntaxError(
        f"the quote opened here is never closed (at position {start})", start, source
    )


def _scan(source: str, i: int) -> int:
    while i < len(source) and source[i] not in _STOP:
        i += 1
    return i


def _word_or_field(source: str, start: int) -> tuple[Token, int]:
    end = _scan(source, start)
    word = source[start:end]
    colon = word.find(":")
    if colon <= 0 or not _FIELD_NAME.fullmatch(word[:colon]):
        if word in ("AND", "OR", "NOT"):
            return Token(Kind(word), start, word), end
        return Token(Kind.WORD, start, word), end
    name = word[:colon].lower()
    i = start + colon + 1
    op = Op.EQ
    for candidate in _OPS:
        if source.startswith(candidate, i):
            op = Op(candidate)
            i += len(candidate)
            break
    value_pos = i
    if name in ("has", "sort") and _is_cf(source, i):
        return _named_custom(source, start, name, i)
    if i < len(source) and source[i] == '"':
        value, i = _quoted(source, i)
    else:
        i = _scan(source, i)
        value = source[value_pos:i]
    if not value.strip():
        raise FilterSyntaxError(
            f"{name}: expects a value after '{op.value}' (at position {value_pos})",
            value_pos,
            source,
        )
    return Token(Kind.FIELD, start, name, op, value, value_pos), i


def _is_cf(source: str, i: int) -> bool:
    return source[i : i + 3].lower() == "cf."


def custom_name(source: str, start: int) -> tuple[str, int]:
    """The custom field name after `cf.` at `start` (bare up to a `:` or a separator,
    or quoted), and the offset after it; the name is empty when none follows."""
    i = start + 3
    if i < len(source) and source[i] == '"':
        return _quoted(source, i)
    end = i
    while end < len(source) and source[end] not in _STOP and source[end] != ":":
        end += 1
    return source[i:end], end


def _custom(source: str, start: int) -> tuple[Token, int] | None:
    """A `cf.name:value,…` token, or None when the text is a plain word (`cf.com`)."""
    name, i = custom_name(source, start)
    quoted = source[start + 3 : start + 4] == '"'
    if i >= len(source) or source[i] != ":":
        if quoted:
            raise FilterSyntaxError(
                f"a custom field expects ':' and a value after its name (at position {i})",
                i,
                source,
            )
        return None
    if not name.strip():
        raise FilterSyntaxError(
            f"cf. expects a field name (at position {start + 3})", start + 3, source
        )
    i += 1
    op = Op.EQ
    for candidate in _OPS:
        if source.startswith(candidate, i):
            op = Op(candidate)
            i += len(candidate)
            break
    value_pos = i
    values: list[str] = []
    while True:
        at = i
        if i < len(source) and source[i] == '"':
            value, i = _quoted(source, i)
        else:
            i = _scan(source, i)
            value = source[at:i]
        if not value.strip():
            raise FilterSyntaxError(
                f"{custom_ref(name)}: expects a value after '{op.value}' (at position {at})",
                at,
                source,
            )
        values.append(value)
        if not _more_values(source, i):
            break
        i += 1
    token = Token(Kind.CUSTOM, start, name, op, values[0], value_pos, tuple(values))
    return token, i


def _more_values(source: str, i: int) -> bool:
    """Whether the comma at `i` continues a list of values rather than the query."""
    if i + 1 >= len(source) or source[i] != ",":
        return False
    nxt = source[i + 1]
    if nxt == '"':
        return True
    if nxt in _STOP:
        return False
    chunk = source[i + 1 : _scan(source, i + 1)]
    if ":" in chunk or chunk in ("AND", "OR", "NOT") or chunk.lower().startswith("cf."):
        return False
    return not chunk.startswith("-") or chunk[1:2].isdigit()


def _named_custom(source: str, start: int, name: str, value_pos: int) -> tuple[Token, int]:
    """`has:cf.X` (a HAS_CUSTOM token) or `sort:cf.X-desc` (a sort field, as written)."""
    field, end = custom_name(source, value_pos)
    if not field.strip():
        raise FilterSyntaxError(
            f"cf. expects a field name (at position {value_pos + 3})", value_pos + 3, source
        )
    if name == "has":
        if end < len(source) and source[end] not in _STOP:
            raise FilterSyntaxError(
                f"has:{custom_ref(field)} takes no value (at position {end})", end, source
            )
        return Token(Kind.HAS_CUSTOM, start, field, value_pos=value_pos), end
    end = _scan(source, end)
    return Token(Kind.FIELD, start, name, Op.EQ, source[value_pos:end], value_pos), end
