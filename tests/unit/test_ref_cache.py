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


def test_an_id_reference_gives_back_its_task_and_project() -> None:
    cache = RefCache(capacity=10)
    task = uuid.uuid4()
    cache.put((ORG, str(task)), (PROJECT, task))
    found = cache.get((ORG, str(task)))
    assert found == (PROJECT, task) and isinstance(found[1], uuid.UUID)
    other = uuid.uuid4()
    cache.put_absent((ORG, str(other)), (PROJECT, other))
    assert cache.get((ORG, str(other))) == (PROJECT, other)
    # A reference spelled otherwise than the id's text keeps its task id.
    shouted = uuid.uuid4()
    cache.put((ORG, str(shouted).upper()), (PROJECT, shouted))
    assert cache.get((ORG, str(shouted).upper())) == (PROJECT, shouted)


def test_a_reference_is_found_only_in_its_own_organisation() -> None:
    cache = RefCache(capacity=10)
    other_org, other_project = uuid.uuid4(), uuid.uuid4()
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    cache.put((ORG, "WEB-12"), (PROJECT, ours))
    assert cache.get((other_org, "WEB-12")) is None
    cache.put((other_org, "WEB-12"), (other_project, theirs))
    assert cache.get((other_org, "WEB-12")) == (other_project, theirs)
    assert cache.get((ORG, "WEB-12")) is None, "one organisation's key at a time"
    task = uuid.uuid4()
    cache.put((ORG, str(task)), (PROJECT, task))
    assert cache.get((other_org, str(task))) is None
