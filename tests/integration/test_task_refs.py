"""Task references that miss a replica's cache are resolved many to a statement
(real PostgreSQL): every caller gets its own task's project, tasks of another
organisation and unknown ids are not found, a cancelled caller leaves the others
be, and a failed statement fails only its own callers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cluster.stack import Stack
from domain.errors import NotFound
from serve_app import access
from serve_app.context import AppContext
from serve_app.task_refs import RefCache, RefResolver
from tests.integration.conftest import User, create_project, create_task, local_context


class CountingResolver(RefResolver):
    """Records the ids of each statement; fails the statements named in `fail`."""

    def __init__(self, engine: AsyncEngine, fail: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.batches: list[int] = []
        self.fail = fail

    async def _fetch(
        self, keys: list[tuple[uuid.UUID, uuid.UUID]]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID]:
        self.batches.append(len(keys))
        if len(self.batches) in self.fail:
            raise ConnectionResetError("the database went away")
        return await super()._fetch(keys)


@pytest.fixture
async def ctx(stack: Stack, database_url: str) -> AsyncIterator[AppContext]:
    async with local_context(database_url) as ctx:
        yield ctx


async def _tasks(
    client: httpx.AsyncClient, user: User, n: int
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    project = await create_project(client, user)
    tasks = [await create_task(client, user, project["id"], title=f"t{i}") for i in range(n)]
    return uuid.UUID(project["id"]), [uuid.UUID(t["id"]) for t in tasks]


async def test_concurrent_misses_share_a_statement_and_each_gets_its_own_answer(
    ctx: AppContext, client: httpx.AsyncClient, alice: User, mallory: User
) -> None:
    project, task_ids = await _tasks(client, alice, 30)
    _, (foreign,) = await _tasks(client, mallory, 1)
    unknown = uuid.uuid4()
    resolver = CountingResolver(ctx.engine)
    org = uuid.UUID(alice.org_id)
    asked = [*task_ids, foreign, unknown]
    answers = await asyncio.gather(*(resolver.resolve(org, t) for t in asked))
    assert answers[:30] == [(project, t) for t in task_ids]
    assert answers[30:] == [None, None], "another organisation's task, an unknown id"
    assert sum(resolver.batches) == len(asked) and len(resolver.batches) <= 2, resolver.batches
    # The same id asked twice at once is read once.
    resolver.batches.clear()
    twice = await asyncio.gather(
        resolver.resolve(org, task_ids[0]), resolver.resolve(org, task_ids[0])
    )
    assert list(twice) == [(project, task_ids[0])] * 2 and resolver.batches == [1]


async def test_a_cancelled_caller_leaves_the_others_their_answers(
    ctx: AppContext, client: httpx.AsyncClient, alice: User
) -> None:
    project, task_ids = await _tasks(client, alice, 3)
    resolver = CountingResolver(ctx.engine)
    org = uuid.UUID(alice.org_id)
    calls = [asyncio.create_task(resolver.resolve(org, t)) for t in task_ids]
    # The same id as the first caller, then given up while the statement is out.
    impatient = asyncio.create_task(resolver.resolve(org, task_ids[0]))
    await asyncio.sleep(0)
    impatient.cancel()
    assert await asyncio.gather(*calls) == [(project, t) for t in task_ids]
    assert impatient.cancelled()


async def test_a_failed_statement_fails_its_callers_and_the_next_one_recovers(
    ctx: AppContext, client: httpx.AsyncClient, alice: User
) -> None:
    project, task_ids = await _tasks(client, alice, 2)
    resolver = CountingResolver(ctx.engine, fail=(1,))
    org = uuid.UUID(alice.org_id)
    first = await asyncio.gather(
        *(resolver.resolve(org, t) for t in task_ids), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionResetError) for r in first), first
    assert await resolver.resolve(org, task_ids[1]) == (project, task_ids[1])


async def test_access_task_resolves_ids_through_the_resolver_and_keys_alone(
    ctx: AppContext, client: httpx.AsyncClient, alice: User
) -> None:
    project, (task_id,) = await _tasks(client, alice, 1)
    key = (await client.get(f"/api/v1/tasks/{task_id}", headers=alice.headers)).json()["key"]
    resolver = CountingResolver(ctx.engine)
    ctx.task_resolver = resolver
    assert await access.access_task(ctx, alice.principal, str(task_id)) == (project, task_id)
    assert resolver.batches == [1]
    assert await access.access_task(ctx, alice.principal, key) == (project, task_id)
    assert resolver.batches == [1], "a human key is read on its own"
    assert await access.access_task(ctx, alice.principal, str(task_id)) == (project, task_id)
    assert resolver.batches == [1], "cached"
    with pytest.raises(NotFound):
        await access.access_task(ctx, alice.principal, str(uuid.uuid4()))


async def test_the_first_miss_in_a_project_reads_all_its_task_ids_into_the_cache(
    ctx: AppContext, client: httpx.AsyncClient, alice: User
) -> None:
    project, task_ids = await _tasks(client, alice, 12)
    other_project, (elsewhere,) = await _tasks(client, alice, 1)
    cache = RefCache()
    resolver = CountingResolver(ctx.engine, cache=cache, prefetch_max=10)
    org = uuid.UUID(alice.org_id)
    assert await resolver.resolve(org, task_ids[0]) == (project, task_ids[0])
    for _ in range(100):  # the read-ahead runs in the background
        if len(cache) >= 10:
            break
        await asyncio.sleep(0.02)
    # Up to `prefetch_max` of the project's tasks, each with its own project.
    cached = {t: cache.get((org, str(t))) for t in task_ids}
    found = {t: where for t, where in cached.items() if where is not None}
    assert len(found) == 10, found
    assert all(where == (project, t) for t, where in found.items())
    assert cache.get((org, str(elsewhere))) is None, "another project is not read ahead"
    # A project is read ahead once.
    assert await resolver.resolve(org, task_ids[1]) == (project, task_ids[1])
    await asyncio.sleep(0.1)
    assert len(cache) == 10
    assert await resolver.resolve(org, elsewhere) == (other_project, elsewhere)
    await asyncio.sleep(0.1)
    assert cache.get((org, str(elsewhere))) == (other_project, elsewhere)
    await resolver.close()
