"""The shard's named project sets (`search.project_sets.ProjectSets`)."""

from __future__ import annotations

import pytest

from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import Words
from search.messages import SearchRequest, UnknownScope
from search.project_sets import ProjectSets


def _request(ids: tuple[str, ...] | None, key: str | None) -> SearchRequest:
    return SearchRequest("org", ids, Words(("w",)), Sort(SortKey.RELEVANCE), scope_key=key)


def test_a_set_sent_with_its_name_is_given_back_by_name() -> None:
    sets = ProjectSets(4)
    assert sets.readable(_request(("a", "b"), "k")) == frozenset({"a", "b"})
    assert sets.readable(_request(None, "k")) == frozenset({"a", "b"})
    # Sent again under the same name (a replica that forgot it sent it): replaced.
    sets.readable(_request(("c",), "k"))
    assert sets.readable(_request(None, "k")) == frozenset({"c"})
    assert len(sets) == 1


def test_unnamed_ids_are_used_as_sent_and_not_kept() -> None:
    sets = ProjectSets(4)
    assert sets.readable(_request(("a",), None)) == ("a",)
    assert len(sets) == 0
    with pytest.raises(UnknownScope):
        sets.readable(_request(None, None))


def test_the_least_recently_used_set_goes_first() -> None:
    sets = ProjectSets(2)
    sets.readable(_request(("a",), "one"))
    sets.readable(_request(("b",), "two"))
    sets.readable(_request(None, "one"))  # used: "two" is now the oldest
    sets.readable(_request(("c",), "three"))
    assert len(sets) == 2
    assert sets.readable(_request(None, "one")) == frozenset({"a"})
    with pytest.raises(UnknownScope):
        sets.readable(_request(None, "two"))
