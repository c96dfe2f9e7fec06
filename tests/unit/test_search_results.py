"""The shard's answers kept between commits (`search.results`)."""

from __future__ import annotations

import threading
from dataclasses import replace

from domain.filters.ast import Sort, SortKey
from domain.filters.predicates import Words
from search.messages import SearchRequest
from search.results import ResultCache, key_of

REQUEST = SearchRequest(
    org_id="org", project_ids=None, predicate=Words(("login",)), sort=Sort(SortKey.RELEVANCE)
)


def test_an_answer_is_kept_until_the_generation_advances() -> None:
    cache = ResultCache()
    key = key_of(REQUEST, frozenset({"p1"}))
    assert key is not None
    assert cache.get(3, key) is None
    cache.put(3, key, "answer")
    assert cache.get(3, key) == "answer"
    assert cache.get(4, key) is None  # a commit became searchable
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (1, 2)


def test_an_answer_searched_before_a_commit_is_not_kept_after_it() -> None:
    cache = ResultCache()
    key = key_of(REQUEST, ("p1",))
    assert cache.get(5, key) is None  # another search already saw generation 5
    cache.put(4, key, "older")  # this one read 4 before taking its searcher
    assert cache.get(5, key) is None


def test_the_key_names_everything_the_answer_depends_on() -> None:
    base = key_of(REQUEST, frozenset({"p1"}))
    assert key_of(REQUEST, frozenset({"p1"})) == base
    assert key_of(REQUEST, frozenset({"p1", "p2"})) != base
    for changed in (
        replace(REQUEST, org_id="other"),
        replace(REQUEST, predicate=Words(("invoice",))),
        replace(REQUEST, sort=Sort(SortKey.UPDATED, descending=True)),
        replace(REQUEST, limit=50),
        replace(REQUEST, offset=20),
        replace(REQUEST, prefix="log"),
        replace(REQUEST, fuzzy=True),
        replace(REQUEST, highlight=False),
    ):
        assert key_of(changed, frozenset({"p1"})) != base, changed


def test_a_request_that_cannot_be_a_key_is_not_cached() -> None:
    assert key_of(REQUEST, [["unhashable"]]) is None  # type: ignore[list-item]


def test_the_oldest_answers_go_first_when_full() -> None:
    cache = ResultCache(capacity=2)
    for k in ("a", "b"):
        cache.put(1, k, k.upper())
    assert cache.get(1, "a") == "A"  # now the most recent
    cache.put(1, "c", "C")
    assert cache.get(1, "b") is None
    assert (cache.get(1, "a"), cache.get(1, "c")) == ("A", "C")


def test_threads_share_it_without_losing_its_bound() -> None:
    cache = ResultCache(capacity=64)

    def work(n: int) -> None:
        for i in range(2_000):
            cache.put(1 + i // 500, (n, i % 100), i)
            cache.get(1 + i // 500, (n, (i * 7) % 100))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(cache) <= 64
