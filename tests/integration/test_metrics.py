"""`/metrics`: one scrape of any replica shows every process of the deployment."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import User, create_project, create_task
from tests.integration.wsclient import WsClient

Samples = dict[str, list[tuple[dict[str, str], float]]]


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = defaultdict(list)
    # The official parser: a malformed exposition (a family twice, a bad label) raises.
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[s.name].append((s.labels, s.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


def sources(samples: Samples, name: str) -> set[str]:
    return {lab["source"] for lab, _ in samples.get(name, [])}


async def test_a_write_shows_up_in_http_grain_and_commit_metrics(
    client: httpx.AsyncClient, alice: User
) -> None:
    before = await scrape(client)
    project = await create_project(client, alice)
    for i in range(3):
        await create_task(client, alice, project["id"], title=f"metric {i}")
    after = await scrape(client)

    # Each replica reports only its own requests, but every replica pushes them, so
    # the counts are of the whole deployment (within one push period).
    assert sources(after, "taskhive_group_commit_batch_size_count") >= {"taskhive-host-0"}
    assert (
        total(after, "taskhive_group_commit_batch_size_count")
        >= total(before, "taskhive_group_commit_batch_size_count") + 3
    )
    assert total(after, "taskhive_grain_write_seconds_count") >= 3
    assert total(after, "taskhive_group_commit_seconds_count") >= 3
    assert total(after, "taskhive_active_grains") >= 1
    assert total(after, "taskhive_grain_activations_total") >= 1
    assert "taskhive_grain_mailbox_depth" in after
    assert total(after, "taskhive_db_pool_connections", state="size") > 0
    assert sources(after, "taskhive_outbox_lag_events") == {"taskhive-outbox"}
    assert {lab["consumer"] for lab, _ in after["taskhive_outbox_lag_events"]} >= {"notifications"}
    assert "taskhive_email_queue_depth" in after
    assert "taskhive_breaker_state" in after


async def test_requests_are_labelled_by_route_template_not_path(
    client: httpx.AsyncClient, alice: User
) -> None:
    project = await create_project(client, alice)
    task = await create_task(client, alice, project["id"])
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)).is_success
    missing = f"/api/v1/no/such/{task['id']}"
    assert (await client.get(missing)).status_code == 404

    deadline = time.monotonic() + 20
    while True:
        samples = await scrape(client)
        labels = [lab for lab, _ in samples["taskhive_http_request_duration_seconds_count"]]
        routes = {(lab["method"], lab["route"], lab["status"]) for lab in labels}
        got_task = any(
            m == "GET" and r.startswith("/api/v1/tasks/{") and r.endswith("}") and s == "200"
            for m, r, s in routes
        )
        if got_task and any(m == "GET" and s == "404" for m, _, s in routes):
            break
        assert time.monotonic() < deadline, sorted(routes)
        await asyncio.sleep(0.5)  # the request may have been served by the other replica
    # A path's ids never become label values (the web UI's catch-all is a template too).
    assert not any(task["id"] in lab["route"] for lab in labels)


async def test_every_replica_is_in_one_scrape(client: httpx.AsyncClient) -> None:
    """Two replicas behind HAProxy: whichever answers includes the other's series."""
    deadline = time.monotonic() + 20
    while True:
        samples = await scrape(client)
        replicas = {
            s
            for s in sources(samples, "taskhive_http_request_duration_seconds_count")
            if s.startswith("replica-")
        }
        if len(replicas) >= 2:
            return
        assert time.monotonic() < deadline, replicas
        for _ in range(10):  # spread requests so both replicas have served some
            await client.get("/healthz")
        await asyncio.sleep(1.0)


async def test_websocket_sessions_and_fanout_lag(
    client: httpx.AsyncClient, base_url: str, alice: User
) -> None:
    project = await create_project(client, alice)
    ws = await WsClient.open(base_url, alice.token)
    opened = "taskhive_websocket_sessions_opened_total"
    try:
        await ws.subscribe(project["id"])
        await create_task(client, alice, project["id"], title="live")
        await ws.next({"event"})
        deadline = time.monotonic() + 20
        while True:
            samples = await scrape(client)
            if (
                total(samples, "taskhive_websocket_sessions") >= 1
                and total(samples, "taskhive_fanout_lag_seconds_count") >= 1
                and total(samples, opened, frames="prepared") >= 1
            ):
                break
            assert time.monotonic() < deadline, (
                "no session, fan-out lag or session on prepared frames reported: "
                f"{samples.get(opened)}"
            )
            await asyncio.sleep(1.0)  # the session's replica pushes every few seconds
        # Under Serve every session writes each event's prepared frame (the client
        # offers compression, which the replicas decline by default).
        assert total(samples, opened, frames="asgi") == 0
    finally:
        await ws.conn.close()


async def test_login_lockouts_count_as_rate_limit_rejections(
    client: httpx.AsyncClient, alice: User
) -> None:
    wrong = {"email": alice.email, "password": "not the password"}
    for _ in range(6):
        await client.post("/api/v1/auth/login", json=wrong)
    locked = await client.post("/api/v1/auth/login", json=wrong)
    assert locked.status_code == 429
    deadline = time.monotonic() + 20
    while total(await scrape(client), "taskhive_rate_limit_rejections_total", kind="login") < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(1.0)


def test_render_merges_processes_into_one_valid_exposition() -> None:
    """Two processes with the same families: each family once, samples by source,
    label values escaped; the official parser accepts it."""
    from serve_app.metrics import render

    family = {
        "name": "taskhive_grain_activations",
        "type": "counter",
        "help": 'Grain "activations"\nper host',
        "samples": [["taskhive_grain_activations_total", {}, 3.0]],
    }
    gauge = {
        "name": "taskhive_outbox_lag_events",
        "type": "gauge",
        "help": "lag",
        "samples": [["taskhive_outbox_lag_events", {"consumer": 'we"ird\\'}, 7.0]],
    }
    text = render({"host-a": [family, gauge], "host-b": [family]}).decode()
    assert text.count("# TYPE taskhive_grain_activations counter") == 1
    parsed = {
        (s.name, s.labels.get("source"), s.labels.get("consumer")): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert parsed[("taskhive_grain_activations_total", "host-a", None)] == 3.0
    assert parsed[("taskhive_grain_activations_total", "host-b", None)] == 3.0
    assert parsed[("taskhive_outbox_lag_events", "host-a", 'we"ird\\')] == 7.0
