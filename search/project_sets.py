"""The project sets a search shard keeps by name (`SearchRequest.scope_key`).

A replica sends an organisation's readable project ids with a name once, then
the name alone (`serve_app.routes.search.run_search`); the shard answers with
the set it kept, or `UnknownScope` when it keeps none by that name (it
restarted, or the set was dropped as the least recently used).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Collection

from search.messages import SearchRequest, UnknownScope


class ProjectSets:
    """Named project sets, least recently used dropped first. Used from the shard's
    search threads at once: each step is one atomic operation on the dict."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._sets: OrderedDict[str, frozenset[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sets)

    def readable(self, request: SearchRequest) -> Collection[str]:
        """The request's projects: as sent (kept under its name, when named), or
        the set kept under its name."""
        key = request.scope_key
        if request.project_ids is not None:
            if key is None:
                return request.project_ids
            kept = self._sets[key] = frozenset(request.project_ids)
            while len(self._sets) > self._capacity:
                with contextlib.suppress(KeyError):  # another thread dropped one
                    self._sets.popitem(last=False)
            return kept
        if key is None or (found := self._sets.get(key)) is None:
            raise UnknownScope(f"no project set is kept as {key}")
        with contextlib.suppress(KeyError):
            self._sets.move_to_end(key)
        return found
