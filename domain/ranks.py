"""Fractional ranks: string keys that order a project's cards (LexoRank-style).

A rank is a base-36 fraction written with the digits `0-9a-z` and never ending in
`0`, so between any two distinct ranks there is always another one and plain
string comparison is the order. Moving a card writes only that card's rank.
Inserting repeatedly at one spot makes keys grow (about one character per five
inserts with `between`'s midpoints); past `REBALANCE_LENGTH` the grain re-spaces
all ranks in the background. Appending, the commonest repeated insert (a new task
at the end, a card moved to the end of a column), uses `after` instead: the next
key up at the current length, so a key grows two characters per 1,260 appends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
_VALUE = {d: i for i, d in enumerate(DIGITS)}

#: A rank longer than this asks for a rebalance.
REBALANCE_LENGTH = 12


def is_rank(value: str) -> bool:
    return bool(value) and all(c in _VALUE for c in value) and not value.endswith("0")


def between(low: str | None, high: str | None) -> str:
    """A rank strictly between `low` and `high` (None: the open end), as short as possible.

    Raises `ValueError` unless `low < high`.
    """
    a, b = low or "", high
    if b is not None and not a < b:
        raise ValueError(f"no rank between {low!r} and {high!r}")
    return _midpoint(a, b)


def _midpoint(a: str, b: str | None) -> str:
    # a < b as fractions, neither ends in '0'; "" is zero and None is one.
    if b is not None:
        n = 0
        while n < len(b) and (a[n] if n < len(a) else "0") == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    low = _VALUE[a[0]] if a else 0
    high = _VALUE[b[0]] if b else BASE
    if high - low > 1:
        return DIGITS[(low + high + 1) // 2]
    if b is not None and len(b) > 1:
        return b[0]
    return DIGITS[low] + _midpoint(a[1:], None)


def after(low: str | None, high: str | None = None) -> str:
    """A rank above `low` and below `high` (None: the open end), for appending after
    `low`: the smallest step up at `low`'s length, else at two digits more, so
    the space up to `high` is left to the cards appended next (a midpoint would
    halve it each time). Raises `ValueError` unless `low < high`.
    """
    if not low:
        return between(None, high)
    if high is not None and not low < high:
        raise ValueError(f"no rank between {low!r} and {high!r}")
    for width in (len(low), len(low) + 2):
        value = _value(low, width) + 1
        if value % BASE == 0:
            value += 1  # a key never ends in 0, and a run of appends keeps its length
        if value < BASE**width:
            key = _digits(value, width)
            if high is None or key < high:
                return key
    return between(low, high)  # a gap narrower than two more digits


def spread(count: int) -> list[str]:
    """`count` evenly spaced, strictly increasing ranks of equal (minimal) width."""
    if count <= 0:
        return []
    width = max(1, math.ceil(math.log(count + 1, BASE)) + 1)
    span = BASE**width
    ranks = []
    for i in range(1, count + 1):
        value = i * span // (count + 1)
        digits = []
        for _ in range(width):
            value, d = divmod(value, BASE)
            digits.append(DIGITS[d])
        ranks.append("".join(reversed(digits)).rstrip("0"))
    return ranks


def after_many(low: str | None, count: int) -> list[str]:
    """`count` strictly increasing ranks above `low` (None: the start), evenly spaced
    up to the end, each no longer than `low` plus the digits `count` needs.

    For a batch appended at once (an import): `between(previous, None)` for each
    card in turn halves the space left every time, about one character per five
    cards, so a few hundred cards would make ranks of dozens of characters.
    """
    if count <= 0:
        return []
    low = low or ""
    width = max(1, len(low))
    while True:
        floor = _value(low, width)
        step = (BASE**width - floor) // (count + 1)
        if step >= 1:
            break
        width += 1
    return [_digits(floor + i * step, width).rstrip("0") for i in range(1, count + 1)]


def _value(rank: str, width: int) -> int:
    """`rank` as an integer of `width` base-36 digits (zeros appended)."""
    value = 0
    for c in rank.ljust(width, "0"):
        value = value * BASE + _VALUE[c]
    return value


def _digits(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, d = divmod(value, BASE)
        out.append(DIGITS[d])
    return "".join(reversed(out))


def needs_rebalance(ranks: Sequence[str]) -> bool:
    return any(len(r) > REBALANCE_LENGTH for r in ranks)
