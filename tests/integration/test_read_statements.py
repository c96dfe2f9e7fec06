"""What a replica sends PostgreSQL for a read: single-statement reads run in
autocommit (`AppContext.reads`), so they cost no BEGIN and no ROLLBACK, and a
task read in the steady state costs no statement at all (its reference, the
caller's grants and standing and the project's facts are cached).

The API runs in this process (ASGI) against the stack's project hosts, on an
engine of its own whose connections log every statement they send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import ray
from sqlalchemy import event

from actors.placement import host_names
from actors.router import NAMESPACE, HostRouter
from cluster.stack import Stack
from serve_app.app import app, signing_keys
from serve_app.authn import Authenticator
from serve_app.config import AppConfig
from serve_app.context import AppContext, install_context, installed_context
from storage.db import create_engine
from tests.integration.conftest import User, create_project, create_task
from tests.stack_fixtures import JWT_SECRET

pytestmark = pytest.mark.timeout(120)


_TYPE_INTROSPECTION = ("typeinfo_tree", "current_setting('jit')", "set_config('jit'")


class Statements:
    """Every statement the engine's connections send, transaction control included
    (asyncpg sends BEGIN and ROLLBACK itself, below SQLAlchemy's cursor events)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def watch(self, engine: Any) -> None:
        def on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.driver_connection.add_query_logger(self._logged)

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            self.sent.append(statement)

        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "before_cursor_execute", before)

    def _logged(self, record: Any) -> None:
        # Only the simple-query protocol is logged here: BEGIN, COMMIT, ROLLBACK.
        # asyncpg learns a type it has no codec for (uuid[]) once per connection,
        # with statements of its own: not what the application sends.
        if not any(marker in record.query for marker in _TYPE_INTROSPECTION):
            self.sent.append(record.query)

    async def during(self, call: Any) -> tuple[Any, list[str]]:
        start = len(self.sent)
        result = await call
        await asyncio.sleep(0.05)  # query loggers run soon after the query
        return result, self.sent[start:]


def _transaction_control(statements: list[str]) -> list[str]:
    """BEGIN and ROLLBACK among `statements`, as those words."""
    words = (s.split()[0].upper().rstrip(";") for s in statements)
    return [w for w in words if w in ("BEGIN", "ROLLBACK")]


@pytest.fixture
async def local_api(stack: Stack) -> AsyncIterator[tuple[httpx.AsyncClient, Statements]]:
    """The API in this process, routing to the stack's hosts, its statements watched."""
    config = AppConfig(database_url=stack.database_url, redis_url=None, jwt_secret=JWT_SECRET)
    engine = create_engine(stack.database_url, pool_size=2)
    statements = Statements()
    statements.watch(engine)
    handles = {n: ray.get_actor(n, namespace=NAMESPACE) for n in host_names(stack.settings.hosts)}
    ctx = AppContext(
        config=config,
        engine=engine,
        redis=None,
        router=HostRouter(handles),
        auth=Authenticator(engine, secret=signing_keys(config), ttl_s=60),
    )
    previous = installed_context()
    install_context(ctx)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://taskhive") as client:
            yield client, statements
    finally:
        install_context(previous)
        await engine.dispose()


async def _first_read(
    api: httpx.AsyncClient, statements: Statements, url: str, user: User, *, expected: int
) -> list[str]:
    """The statements a first GET of `url` sends, including the read-ahead that
    may end after the response: waits up to 5 s for `expected` of them."""
    start = len(statements.sent)
    r = await api.get(url, headers=user.headers)
    assert r.status_code == 200, r.text
    for _ in range(100):
        await asyncio.sleep(0.05)
        if len(statements.sent) - start >= expected:
            break
    await asyncio.sleep(0.05)  # one more turn: anything beyond `expected` shows too
    return statements.sent[start:]


async def test_a_task_read_opens_no_transaction_and_costs_no_statement_once_cached(
    local_api: tuple[httpx.AsyncClient, Statements], client: httpx.AsyncClient, alice: User
) -> None:
    api, statements = local_api
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"])
    url = f"/api/v1/tasks/{task['id']}"

    cold = await _first_read(api, statements, url, alice, expected=5)
    # The reference, the caller's standing and grants, the project's facts: each
    # one statement, none inside a transaction; and, in the background, the ids
    # of the project's tasks read ahead (`serve_app.task_refs`).
    read_ahead = [s for s in cold if s.startswith("SELECT id FROM tasks WHERE project_id")]
    assert len(read_ahead) == 1 and len(cold) == 5, cold
    assert _transaction_control(cold) == []

    for _ in range(3):
        again, steady = await statements.during(api.get(url, headers=alice.headers))
        assert again.status_code == 200
        assert steady == []


async def test_an_inbox_page_and_its_unread_count_are_one_statement(
    local_api: tuple[httpx.AsyncClient, Statements], alice: User
) -> None:
    api, statements = local_api
    # The first request also looks up the caller (grants, standing, projects).
    await statements.during(api.get("/api/v1/notifications?limit=5", headers=alice.headers))
    r, sent = await statements.during(
        api.get("/api/v1/notifications?limit=5", headers=alice.headers)
    )
    assert r.status_code == 200, r.text
    inbox = [s for s in sent if "FROM notifications" in s]
    assert len(inbox) == 1, sent  # one snapshot: the count always matches the page
    assert "count(*)" in inbox[0]
    assert _transaction_control(sent) == []


async def test_a_project_the_organisations_list_just_checked_needs_no_statement_of_its_own(
    local_api: tuple[httpx.AsyncClient, Statements], client: httpx.AsyncClient, alice: User
) -> None:
    api, statements = local_api
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"])
    # The inbox checks the organisation's list of projects (its catalog version).
    r, sent = await statements.during(api.get("/api/v1/notifications", headers=alice.headers))
    assert r.status_code == 200, r.text
    assert any("catalog_version" in s for s in sent), sent

    cold = await _first_read(api, statements, f"/api/v1/tasks/{task['id']}", alice, expected=2)
    # The reference and the read-ahead; the project's owner and visibility came
    # from the list the inbox had just checked.
    assert not [s for s in cold if "FROM projects" in s], cold
    assert len(cold) == 2, cold


async def test_a_project_created_after_the_organisations_list_was_checked_is_found(
    local_api: tuple[httpx.AsyncClient, Statements], alice: User
) -> None:
    api, _ = local_api
    r = await api.get("/api/v1/notifications", headers=alice.headers)  # checks the list
    assert r.status_code == 200, r.text
    project = await create_project(api, alice)
    task = await create_task(api, alice, project["id"])
    r = await api.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert r.status_code == 200, r.text
