"""An import whose process died mid-way is resumed by the relay's chore: from the
first batch not recorded, a batch that committed unrecorded is not imported twice."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import ray

from actors.import_runner import ImportResumerConfig, plan_json
from actors.placement import host_names
from actors.router import NAMESPACE, HostRouter
from cluster.stack import Stack
from domain.commands import IdempotencyKey, ImportTasks
from domain.import_formats import read_mapped_csv
from domain.imports import Report, Target, batches, plan
from storage import imports as jobs
from storage.db import create_engine
from tests.integration.conftest import User, create_project


async def test_a_stalled_import_is_resumed_without_duplicates(
    client: httpx.AsyncClient, alice: User, stack: Stack, database_url: str, db: Any
) -> None:
    project = await create_project(client, alice)
    pid, org, actor = uuid.UUID(project["id"]), uuid.UUID(alice.org_id), uuid.UUID(alice.id)
    workflow = (await client.get(f"/api/v1/projects/{pid}/workflow", headers=alice.headers)).json()
    statuses = {s["name"].lower(): s["id"] for s in workflow["statuses"]}
    data = ("Name\n" + "".join(f"Issue {n}\n" for n in range(450))).encode()
    report = Report()
    rows = read_mapped_csv(data, {"title": "Name"}, report)
    items = plan(rows, Target(statuses, {}, actor), report)
    assert report.ok and len(items) == 450

    engine = create_engine(database_url, pool_size=2)
    job_id = uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await jobs.create(
                conn,
                id=job_id,
                org_id=org,
                project_id=pid,
                created_by=actor,
                source="csv",
                status="running",
                total=len(items),
                report=report.as_json(),
                plan=plan_json(items, {}, ()),
            )
        # The process that died had committed two batches and recorded one.
        router = HostRouter(
            {n: ray.get_actor(n, namespace=NAMESPACE) for n in host_names(stack.settings.hosts)}
        )
        for n, batch in enumerate(batches(items)[:2]):
            key = IdempotencyKey(org, actor, f"import:{job_id}:{n}", f"{job_id}:{n}", True)
            command = ImportTasks(actor, job_id, "csv", batch)
            await router.call(pid, "apply", org, pid, command, key)
        await db.execute(
            "UPDATE imports SET done = 200, heartbeat_at = now() - interval '5 minutes'"
            " WHERE id = $1",
            job_id,
        )

        resumer = ImportResumerConfig(hosts=stack.settings.hosts, silent_s=60)(engine)
        assert await resumer.resume_one()
        assert not await resumer.resume_one()  # nothing else stalled
    finally:
        await engine.dispose()

    job = await db.fetchrow("SELECT status, done, plan FROM imports WHERE id = $1", job_id)
    assert (job["status"], job["done"], job["plan"]) == ("done", 450, None)
    titles = await db.fetch("SELECT title FROM tasks WHERE project_id = $1", pid)
    assert sorted(r["title"] for r in titles) == sorted(f"Issue {n}" for n in range(450))
    r = await client.get(f"/api/v1/projects/{pid}/imports/{job_id}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "done", r.text


async def test_a_live_import_is_not_claimed(
    client: httpx.AsyncClient, alice: User, stack: Stack, database_url: str, db: Any
) -> None:
    project = await create_project(client, alice)
    job_id = uuid.uuid4()
    engine = create_engine(database_url, pool_size=2)
    try:
        async with engine.begin() as conn:
            await jobs.create(
                conn,
                id=job_id,
                org_id=uuid.UUID(alice.org_id),
                project_id=uuid.UUID(project["id"]),
                created_by=uuid.UUID(alice.id),
                source="csv",
                status="running",
                total=1,
                plan=plan_json([], {}, ()),
            )
        resumer = ImportResumerConfig(hosts=stack.settings.hosts, silent_s=60)(engine)
        assert not await resumer.resume_one()  # its heartbeat is fresh
    finally:
        await engine.dispose()
    assert await db.fetchval("SELECT status FROM imports WHERE id = $1", job_id) == "running"
    await db.execute("UPDATE imports SET status = 'failed' WHERE id = $1", job_id)
