"""The replica's side of named project sets (`serve_app.routes.search.run_search`),
against stand-ins for a shard's answers: one that keeps sets, one of an earlier
release that knows nothing of names, and one that restarted and lost them."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import Words
from search.messages import SearchRequest, SearchResult, UnknownScope
from serve_app.routes import search as route

IDS = tuple(str(uuid4()) for _ in range(route.SCOPE_NAMED_FROM))
REQUEST = SearchRequest("org", IDS, Words(("word",)), Sort(SortKey.RELEVANCE), scope_key="k1")


class Shard:
    """Answers as a shard would and records what it was sent."""

    def __init__(self, *, keeps: bool) -> None:
        self.keeps = keeps
        self.kept: set[str] = set()
        self.sent: list[SearchRequest] = []

    async def call(self, org_id: Any, method: str, request: SearchRequest) -> SearchResult:
        assert method == "search"
        self.sent.append(request)
        if request.project_ids is None:
            if request.scope_key not in self.kept:
                raise UnknownScope(str(request.scope_key))
            return SearchResult((), 0, False, scope_kept=True)
        if not self.keeps:
            return SearchResult((), 0, False)  # an earlier release: no such field set
        assert request.scope_key is not None
        self.kept.add(request.scope_key)
        return SearchResult((), 0, False, scope_kept=True)


@pytest.fixture
def shard(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Shard:
    found = Shard(keeps=request.param)
    monkeypatch.setattr(route._shards, "call", found.call)
    monkeypatch.setattr(route, "_scopes_sent", {})
    return found


@pytest.mark.parametrize("shard", [True], indirect=True)
async def test_a_set_goes_by_name_once_the_shard_kept_it_and_again_in_full_if_it_lost_it(
    shard: Shard,
) -> None:
    for _ in range(3):
        await route.run_search(uuid4(), REQUEST)
    assert [r.project_ids is None for r in shard.sent] == [False, True, True]

    shard.kept.clear()  # the shard restarted
    shard.sent.clear()
    await route.run_search(uuid4(), REQUEST)
    await route.run_search(uuid4(), REQUEST)
    # Refused by name, sent in full at once, then named again.
    assert [r.project_ids is None for r in shard.sent] == [True, False, True]
    assert shard.sent[1].project_ids == IDS


@pytest.mark.parametrize("shard", [False], indirect=True)
async def test_a_shard_that_keeps_no_sets_is_always_sent_the_ids(shard: Shard) -> None:
    for _ in range(3):
        await route.run_search(uuid4(), REQUEST)
    assert all(r.project_ids == IDS for r in shard.sent)
    assert len(shard.sent) == 3
