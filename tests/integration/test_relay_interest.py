"""Which projects the webhook and automation consumers act on, asked once per
relay pass: exactly those their per-project reads (`hooks_for`, `enabled_rules`)
find something for."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from storage import automation, webhooks
from storage.db import create_engine
from tests.integration.conftest import User, create_project, signup


async def _hook(db: Any, org_id: uuid.UUID, project_id: uuid.UUID | None, active: bool) -> None:
    await db.execute(
        "INSERT INTO webhooks (id, org_id, project_id, url, secret, events, active)"
        " VALUES ($1, $2, $3, 'http://hooks.example/x', 's', ARRAY['task.created'], $4)",
        uuid.uuid4(),
        org_id,
        project_id,
        active,
    )


async def _rule(db: Any, org_id: uuid.UUID, project_id: uuid.UUID, enabled: bool) -> None:
    await db.execute(
        "INSERT INTO automation_rules (id, org_id, project_id, name, trigger, actions, enabled)"
        " VALUES ($1, $2, $3, 'r', '{\"type\": \"task_created\"}', '[]', $4)",
        uuid.uuid4(),
        org_id,
        project_id,
        enabled,
    )


async def test_projects_with_hooks_are_those_hooks_for_finds_hooks_for(
    client: httpx.AsyncClient, alice: User, db: Any, database_url: str
) -> None:
    org = uuid.UUID(alice.org_id)
    own, off, bare = [uuid.UUID((await create_project(client, alice))["id"]) for _ in range(3)]
    await _hook(db, org, own, active=True)
    await _hook(db, org, off, active=False)
    elsewhere = await signup(client, org_name="Elsewhere")
    await _hook(db, uuid.UUID(elsewhere.org_id), None, active=True)  # another org's
    projects = {own: org, off: org, bare: org}
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await webhooks.projects_with_hooks(conn, projects) == {own}
            for p in projects:
                found = await webhooks.hooks_for(conn, org_id=org, project_id=p)
                assert bool(found) == (p == own)
            await _hook(db, org, None, active=True)  # the organisation's: every project
            assert await webhooks.projects_with_hooks(conn, projects) == set(projects)
            assert await webhooks.projects_with_hooks(conn, {}) == set()
    finally:
        await engine.dispose()


async def test_projects_with_rules_are_those_with_an_enabled_rule(
    client: httpx.AsyncClient, alice: User, db: Any, database_url: str
) -> None:
    org = uuid.UUID(alice.org_id)
    ruled, disabled, bare = [
        uuid.UUID((await create_project(client, alice))["id"]) for _ in range(3)
    ]
    await _rule(db, org, ruled, enabled=True)
    await _rule(db, org, ruled, enabled=True)
    await _rule(db, org, disabled, enabled=False)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            got = await automation.projects_with_rules(conn, [ruled, disabled, bare])
            assert got == {ruled}
            for p in (ruled, disabled, bare):
                assert bool(await automation.enabled_rules(conn, p)) == (p == ruled)
    finally:
        await engine.dispose()
