"""Answers of the searcher now current, kept until the next commit.

A search's answer is a function of the request and the committed index: while
no commit has been made searchable, the same request gets the same hits, total
and highlights. The shard keeps the last `capacity` answers of the current
index generation (`TaskIndex.generation`) and drops them all when a commit
advances it, so an answer is never older than what a fresh search would find:
the generation is read before the searcher is taken, and a searcher sees at
least the commits the generation counts.

Searches of a common word over a million tasks visit every match (about
120,000 for one task in eight); a query asked again within the commit
interval (a board's search box used by a team, a saved filter open in many
tabs, the same word from several people) costs a dictionary lookup instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable
from typing import Any

from search.messages import SearchRequest

#: Answers kept per shard (each at most one page of hits: tens of KiB).
CAPACITY = 512


def key_of(request: SearchRequest, readable: Collection[str]) -> Hashable | None:
    """What the answer depends on besides the index: None when a part of the
    request cannot be a key (it is then searched, not cached)."""
    key = (
        request.org_id,
        readable if isinstance(readable, frozenset | tuple) else tuple(readable),
        request.predicate,
        request.sort,
        request.limit,
        request.offset,
        request.prefix,
        request.fuzzy,
        request.highlight,
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


class ResultCache:
    """See the module docstring. Safe to use from the shard's search threads."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, generation: int, key: Hashable) -> Any | None:
        with self._lock:
            self._advance(generation)
            if generation != self._generation or key not in self._entries:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, generation: int, key: Hashable, answer: Any) -> None:
        with self._lock:
            self._advance(generation)
            if generation != self._generation:
                return  # searched before a commit that is now searchable
            self._entries[key] = answer
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def _advance(self, generation: int) -> None:
        if generation > self._generation:
            self._entries.clear()
            self._generation = generation
