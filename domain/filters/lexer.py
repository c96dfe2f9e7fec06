"""Turning filter text into tokens, each with the offset it starts at.

Words are separated by whitespace or commas (so `assignee:me,status:open` is two
filters), parentheses stand alone, `"…"` quotes a phrase or a value (`\\"` and
`\\\\` escape inside it), `AND`/`OR`/`NOT` in capitals are operators and a leading
`-` negates what follows. `name:value`, `name:>value` … is a field; its name is
checked by the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.filters.ast import Op
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
            token, i = _word_or_field(source, i)
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
