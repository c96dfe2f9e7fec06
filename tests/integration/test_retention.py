"""Idempotency keys are kept for their window, then pruned; a pruned key is free again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from realtime.housekeeping import HousekeepingConfig
from storage.db import create_engine
from tests.integration.conftest import User


async def _post(client: httpx.AsyncClient, user: User, project: dict[str, Any], key: str) -> Any:
    return await client.post(
        "/api/v1/tasks",
        json={"project_id": project["id"], "title": f"once {key}"},
        headers={**user.headers, "Idempotency-Key": key},
    )


async def test_expired_keys_are_pruned_and_recent_ones_still_replay(
    client: httpx.AsyncClient, alice: User, project: dict[str, Any], db: Any, database_url: str
) -> None:
    old_key, new_key = f"old-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    first_old = await _post(client, alice, project, old_key)
    first_new = await _post(client, alice, project, new_key)
    assert first_old.status_code == first_new.status_code == 201
    # Age one key past the window, as if it were recorded two days ago.
    await db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = $1",
        old_key,
    )

    engine = create_engine(database_url, pool_size=1)
    try:
        chore = HousekeepingConfig(idempotency_ttl=timedelta(hours=24))(engine)
        assert (await chore.once())["idempotency_keys"] >= 1
    finally:
        await engine.dispose()

    keys = {
        r["key"]
        for r in await db.fetch(
            "SELECT key FROM idempotency_keys WHERE key = ANY($1)", [old_key, new_key]
        )
    }
    assert keys == {new_key}
    # Within the window a retry replays the first response ...
    again = await _post(client, alice, project, new_key)
    assert again.status_code == 201 and again.json()["id"] == first_new.json()["id"]
    # ... after it, the key names a new request.
    fresh = await _post(client, alice, project, old_key)
    assert fresh.status_code == 201 and fresh.json()["id"] != first_old.json()["id"]
