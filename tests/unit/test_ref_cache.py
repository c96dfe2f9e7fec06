"""The replica's task-reference cache: a bounded LRU where what a read-ahead puts
never displaces what requests used (`serve_app.task_refs.RefCache`)."""

from __future__ import annotations

import uuid

from serve_app.task_refs import RefCache

ORG = uuid.uuid4()
PROJECT = uuid.uuid4()


def _key(i: int) -> tuple[uuid.UUID, str]:
    return ORG, f"ref-{i}"


def test_requests_evict_the_least_recently_used() -> None:
    cache = RefCache(capacity=3)
    for i in range(3):
        cache.put(_key(i), (PROJECT, uuid.uuid4()))
    assert cache.get(_key(0)) is not None  # now the most recent
    cache.put(_key(3), (PROJECT, uuid.uuid4()))
    assert cache.get(_key(1)) is None
    assert all(cache.get(_key(i)) is not None for i in (0, 2, 3))


def test_a_read_ahead_fills_free_room_only_and_goes_first() -> None:
    cache = RefCache(capacity=3)
    used = (PROJECT, uuid.uuid4())
    cache.put(_key(0), used)
    cache.put_absent(_key(0), (PROJECT, uuid.uuid4()))
    assert cache.get(_key(0)) == used, "a read-ahead does not overwrite"
    cache.put_absent(_key(1), (PROJECT, uuid.uuid4()))
    cache.put_absent(_key(2), (PROJECT, uuid.uuid4()))
    cache.put_absent(_key(3), (PROJECT, uuid.uuid4()))  # full: not taken
    assert len(cache) == 3 and cache.get(_key(3)) is None
    # A request's entry evicts read-ahead entries before the one a request used.
    cache.put(_key(4), (PROJECT, uuid.uuid4()))
    assert cache.get(_key(0)) == used and cache.get(_key(4)) is not None
    assert len(cache) == 3
