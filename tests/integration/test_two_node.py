"""A two-node Ray cluster on this machine: project hosts spread over both nodes,
live delivery from each node's host (also to a real websocket on the API served
from the other node), and one node stopped (SIGKILL of its raylet and workers)
under use: its host restarts on the other node, no acknowledged write is lost and
the websocket sees every change without a gap.

The cluster is the test's own (`ray start --head` plus `ray start --address`),
on free ports and in its own temp dir, and is stopped by killing exactly the
processes that belong to that temp dir (never `ray stop`, which would stop every
Ray on the machine). A driver subprocess joins it (`two_node_driver.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from cluster.stack import Stack
from tests.integration.conftest import User, create_project, free_port
from tests.integration.wsclient import WsClient
from tests.stack_fixtures import JWT_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420, func_only=True)]

RAY = str(Path(sys.executable).with_name("ray"))
# Find a lost node in ~3 s instead of ~30 s.
FAST_FAILURE_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}


def _node_ports() -> list[str]:
    return [
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
    ]


def _ray_start(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [RAY, "start", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _processes_of(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(marker in part for part in proc.info["cmdline"] or []):
                found.append(proc)
    return found


def _kill_tree(procs: list[psutil.Process]) -> None:
    everything: list[psutil.Process] = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            everything += [proc, *proc.children(recursive=True)]
    for proc in everything:
        with contextlib.suppress(psutil.Error, OSError):
            os.kill(proc.pid, signal.SIGKILL)
    psutil.wait_procs(everything, timeout=10)


@pytest.fixture
def two_nodes() -> Iterator[dict[str, Any]]:
    temp_dir = tempfile.mkdtemp(prefix="th2n-", dir="/tmp")
    env = {**os.environ, **FAST_FAILURE_ENV}
    env.pop("RAY_ADDRESS", None)
    gcs_port = free_port()
    second = _node_ports()
    try:
        _ray_start(
            [
                "--head",
                f"--port={gcs_port}",
                f"--temp-dir={temp_dir}",
                "--num-cpus=1",
                '--resources={"node_a": 1}',
                "--include-dashboard=false",
                f"--ray-client-server-port={free_port()}",
                *_node_ports(),
            ],
            env,
        )
        _ray_start(
            [
                f"--address=127.0.0.1:{gcs_port}",
                "--num-cpus=1",
                '--resources={"node_b": 1}',
                *second,
            ],
            env,
        )
        yield {
            "address": f"127.0.0.1:{gcs_port}",
            "temp_dir": temp_dir,
            "second_node_marker": second[0].replace("--node-manager-port=", "--node_manager_port="),
            "env": env,
        }
    finally:
        _kill_tree(_processes_of(temp_dir))
        _kill_tree(_processes_of(f"127.0.0.1:{gcs_port}"))
        shutil.rmtree(temp_dir, ignore_errors=True)


async def test_hosts_on_two_nodes_survive_losing_one(
    stack: Stack, client: httpx.AsyncClient, alice: User, two_nodes: dict[str, Any]
) -> None:
    projects = [(await create_project(client, alice))["id"] for _ in range(8)]
    api_port = free_port()
    job = {
        "address": two_nodes["address"],
        "database_url": stack.database_url,
        "redis_url": stack.redis_url,
        "jwt_secret": JWT_SECRET,
        "api_port": api_port,
        "org_id": alice.org_id,
        "user_id": alice.id,
        "projects": projects,
    }
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.two_node_driver", json.dumps(job)],
        env={**two_nodes["env"], "RAY_ADDRESS": two_nodes["address"]},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ws: WsClient | None = None
    try:
        assert driver.stdout is not None and driver.stdin is not None
        placed = _next_json(driver)
        assert placed.get("phase") == "placed", placed
        nodes = placed["nodes"]
        assert len(set(nodes.values())) == 2, f"hosts not spread: {nodes}"
        owners = {nodes[host] for host in placed["owner"].values()}
        assert len(owners) == 2, "the projects should live on both nodes"

        # A websocket to the API on the first node, subscribed to a project whose
        # host runs on the second node: its events cross nodes through Redis.
        remote = [p for p in projects if nodes[placed["owner"][p]] != placed["frontend_node"]]
        assert remote, "no project is hosted on the other node than the API"
        watched = remote[0]
        ws = await WsClient.open(f"http://127.0.0.1:{api_port}", alice.token)
        subscribed = await ws.subscribe(watched)
        assert subscribed["type"] == "subscribed", subscribed
        first = subscribed["version"]
        driver.stdin.write("go\n")
        driver.stdin.flush()
        ready = _next_json(driver)
        assert ready.get("phase") == "ready", ready
        live = await ws.events(3, timeout=60)  # three writes each project before the loss

        second = _processes_of(two_nodes["second_node_marker"])
        assert second, "the second node's raylet was not found"
        _kill_tree(second)
        killed_at = time.monotonic()
        driver.stdin.write("stop\n")
        driver.stdin.flush()
        done = _next_json(driver)
        live += await ws.events(3, timeout=60)  # three more once its host moved
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        with contextlib.suppress(Exception):
            driver.kill()
        driver.wait(timeout=30)
        for pipe in (driver.stdin, driver.stdout, driver.stderr):
            if pipe is not None:
                pipe.close()

    assert done.get("phase") == "done", done
    # Both hosts now live on the surviving node.
    assert len(set(done["nodes_after"].values())) == 1
    assert time.monotonic() - killed_at < 120
    assert done["resumed_s"] < 60
    print(f"two nodes: writes to every project resumed {done['resumed_s']:.1f} s after the loss")
    for project_id, ids in done["acknowledged"].items():
        assert len(ids) == 6, f"{project_id}: {len(ids)} of 6 writes acknowledged"
    # The websocket saw every change of the remote project, in order, without a gap.
    assert all(e["project_id"] == watched for e in live)
    assert [e["version"] for e in live] == list(range(first + 1, first + 7))
    conn = await asyncpg.connect(stack.database_url)
    try:
        final = await conn.fetchval(
            "SELECT version FROM projects WHERE id = $1", uuid.UUID(watched)
        )
        assert final == first + 6
        # Live delivery from hosts on both nodes: every committed change, in order.
        for project_id, versions in done["delivered"].items():
            final = await conn.fetchval(
                "SELECT version FROM projects WHERE id = $1", uuid.UUID(project_id)
            )
            assert versions == list(range(1, final + 1)), versions
        # Every acknowledged write is in PostgreSQL.
        for project_id, ids in done["acknowledged"].items():
            stored = {
                str(r["id"])
                for r in await conn.fetch(
                    "SELECT id FROM tasks WHERE project_id = $1", uuid.UUID(project_id)
                )
            }
            assert set(ids) <= stored
    finally:
        await conn.close()


def _next_json(proc: subprocess.Popen[str], timeout_s: float = 150) -> dict[str, Any]:
    """The driver's next JSON line (its other output is Ray's)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"driver ended: {stderr[-3000:]}")
        with contextlib.suppress(ValueError):
            found: dict[str, Any] = json.loads(line)
            return found
    raise AssertionError("driver did not answer in time")
