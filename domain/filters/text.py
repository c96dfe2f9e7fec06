"""How free text is cut into words, the same way for every backend.

Words are runs of letters and digits, lower-cased (Tantivy's simple tokenizer
does the same); longer than 40 characters they are dropped. A stemmer, when
given, maps each word to its stem (the search index and PostgreSQL both use the
Snowball English stemmer; in-memory evaluation takes one as a parameter so that
this package needs no library).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

Stemmer = Callable[[str], str]

_WORD = re.compile(r"[^\W_]+")
MAX_WORD = 40


def words(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if len(w) <= MAX_WORD]


def stems(text: str, stem: Stemmer | None = None) -> list[str]:
    found = words(text)
    return found if stem is None else [stem(w) for w in found]


def contains_phrase(haystack: list[str], needle: Iterable[str]) -> bool:
    want = list(needle)
    if not want:
        return True
    n = len(want)
    return any(haystack[i : i + n] == want for i in range(len(haystack) - n + 1))
