"""The host's group commit (`actors.host_commit`): which batches share a transaction,
and what each grain is told. The database side is `test_group_commit.py`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest

from actors.host_commit import HostCommitter, enabled
from storage.group_commit import NotCommitted
from storage.project_store import Batch, Fenced, IdempotencyRace
from tests.unit.factories import make_project


class _Store:
    """A `ProjectStore` stand-in for the one-batch path: records, fails as told."""

    engine: Any = None

    def __init__(self, fail: dict[UUID, Exception] | None = None) -> None:
        self.alone: list[UUID] = []
        self.fail = fail or {}

    async def commit(self, batch: Batch, *, epoch: int) -> None:
        self.alone.append(batch.project.id)
        await asyncio.sleep(0)
        if batch.project.id in self.fail:
            raise self.fail[batch.project.id]


class _Together:
    """The combined write: holds the first call until released, records each group."""

    def __init__(
        self, fenced: set[tuple[UUID, int]] | None = None, error: Exception | None = None
    ) -> None:
        self.groups: list[list[UUID]] = []
        self.release = asyncio.Event()
        self.fenced = fenced or set()
        self.error = error

    async def __call__(self, items: Sequence[tuple[Batch, int]]) -> set[tuple[UUID, int]]:
        self.groups.append([b.project.id for b, _ in items])
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.fenced & {(b.project.id, epoch) for b, epoch in items}


def _batches(n: int) -> list[Batch]:
    return [Batch(project=make_project()) for _ in range(n)]


async def _settled(tasks: list[asyncio.Task[None]]) -> list[BaseException | None]:
    await asyncio.wait(tasks)
    return [t.exception() for t in tasks]


async def test_batches_staged_during_a_commit_go_in_the_next_one_together() -> None:
    together = _Together()
    committer = HostCommitter(_Store(), together=together)  # type: ignore[arg-type]
    first, *rest = _batches(5)
    in_flight = asyncio.create_task(committer.commit(first, 1))
    await asyncio.sleep(0.01)  # the first transaction is in flight
    waiting = [asyncio.create_task(committer.commit(b, 1)) for b in rest]
    await asyncio.sleep(0.01)
    assert together.groups == [[first.project.id]]  # the others wait for it
    together.release.set()
    assert await _settled([in_flight, *waiting]) == [None] * 5
    assert together.groups == [[first.project.id], [b.project.id for b in rest]]


async def test_a_fenced_project_fails_alone_and_the_others_commit() -> None:
    batches = _batches(3)
    stale = batches[1].project.id
    together = _Together(fenced={(stale, 1)})
    together.release.set()
    committer = HostCommitter(_Store(), together=together)  # type: ignore[arg-type]
    results = await _settled([asyncio.create_task(committer.commit(b, 1)) for b in batches])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Fenced)
    assert together.groups == [[b.project.id for b in batches]]


async def test_only_the_stale_epoch_of_a_project_is_fenced() -> None:
    project = make_project()
    stale, fresh = Batch(project=project), Batch(project=project)
    together = _Together(fenced={(project.id, 1)})
    together.release.set()
    committer = HostCommitter(_Store(), together=together)  # type: ignore[arg-type]
    results = await _settled(
        [
            asyncio.create_task(committer.commit(stale, 1)),
            asyncio.create_task(committer.commit(fresh, 2)),
        ]
    )
    assert isinstance(results[0], Fenced) and results[1] is None


async def test_a_failed_combined_transaction_writes_each_batch_alone() -> None:
    batches = _batches(3)
    race = IdempotencyRace({(batches[2].project.id, batches[2].project.id, "k")})
    store = _Store(fail={batches[2].project.id: race})
    together = _Together(error=NotCommitted("duplicate key"))
    together.release.set()
    committer = HostCommitter(store, together=together)  # type: ignore[arg-type]
    results = await _settled([asyncio.create_task(committer.commit(b, 1)) for b in batches])
    assert results[:2] == [None, None]
    assert results[2] is race  # only the batch at fault fails, as it would alone
    assert sorted(store.alone) == sorted(b.project.id for b in batches)


async def test_a_single_batch_gets_the_cause_of_its_rolled_back_transaction() -> None:
    (batch,) = _batches(1)
    race = IdempotencyRace(set())
    together = _Together()
    together.error = NotCommitted("race")
    together.error.__cause__ = race
    together.release.set()
    store = _Store()
    committer = HostCommitter(store, together=together)  # type: ignore[arg-type]
    with pytest.raises(IdempotencyRace):
        await committer.commit(batch, 1)
    assert store.alone == []  # not written a second time


async def test_an_unknown_outcome_reaches_every_grain_and_nothing_is_retried() -> None:
    batches = _batches(2)
    together = _Together(error=ConnectionResetError("lost during COMMIT"))
    together.release.set()
    store = _Store()
    committer = HostCommitter(store, together=together)  # type: ignore[arg-type]
    results = await _settled([asyncio.create_task(committer.commit(b, 1)) for b in batches])
    assert all(isinstance(r, ConnectionResetError) for r in results)
    assert store.alone == []


async def test_other_batch_shapes_commit_alone_as_before() -> None:
    batch = Batch(project=make_project(), project_changed=True)
    together = _Together()
    store = _Store()
    committer = HostCommitter(store, together=together)  # type: ignore[arg-type]
    await committer.commit(batch, 1)
    assert store.alone == [batch.project.id] and together.groups == []


async def test_a_grain_that_stopped_waiting_is_left_out() -> None:
    together = _Together()
    committer = HostCommitter(_Store(), together=together)  # type: ignore[arg-type]
    first, gone, kept = _batches(3)
    in_flight = asyncio.create_task(committer.commit(first, 1))
    await asyncio.sleep(0.01)
    cancelled = asyncio.create_task(committer.commit(gone, 1))
    staying = asyncio.create_task(committer.commit(kept, 1))
    await asyncio.sleep(0.01)
    cancelled.cancel()  # its grain was passivated
    together.release.set()
    await asyncio.wait([in_flight, staying, cancelled])
    assert together.groups == [[first.project.id], [kept.project.id]]


async def test_at_most_max_projects_per_transaction() -> None:
    together = _Together()
    together.release.set()
    committer = HostCommitter(_Store(), together=together, max_projects=2)  # type: ignore[arg-type]
    batches = _batches(5)
    await _settled([asyncio.create_task(committer.commit(b, 1)) for b in batches])
    assert [len(g) for g in together.groups] == [2, 2, 1]


def test_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKHIVE_HOST_GROUP_COMMIT", raising=False)
    assert enabled()
    monkeypatch.setenv("TASKHIVE_HOST_GROUP_COMMIT", "0")
    assert not enabled()
