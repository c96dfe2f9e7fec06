"""Ray clusters of several nodes on this machine.

* Two nodes: project hosts spread over both, live delivery from each node's host
  (also to a real websocket on the API served from the other node), and one node
  stopped (SIGKILL of its raylet and workers) under use: its host restarts on the
  other node, no acknowledged write is lost and the websocket sees every change
  without a gap (`two_node_driver.py`).
* A node that joins later: hosts start on the only node; a second node joins and
  the re-spread chore moves one host there under writes (its projects re-activate
  with new epochs); that node is lost (its host restarts on the first) and a
  third joins: one of the two hosts on the first node moves there. Every
  acknowledged write is stored exactly once (`join_node_driver.py`).

Each cluster is the test's own (`ray start --head` plus `ray start --address`),
on free ports and in its own temp dir, and is stopped by killing exactly the
processes that belong to it (never `ray stop`, which would stop every Ray on the
machine). A driver subprocess joins it.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from actors.placement import host_for, host_names
from cluster.stack import Stack
from tests.integration.conftest import User, create_project, free_port
from tests.integration.wsclient import WsClient
from tests.stack_fixtures import JWT_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900, func_only=True)]

RAY = str(Path(sys.executable).with_name("ray"))
# Find a lost node in ~3 s instead of ~30 s.
FAST_FAILURE_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
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


@dataclass
class LocalCluster:
    """A Ray cluster of this test's own; `stop` kills exactly its processes."""

    temp_dir: str
    gcs_port: int
    env: dict[str, str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def start_head(self) -> None:
        _ray_start(
            [
                "--head",
                f"--port={self.gcs_port}",
                f"--temp-dir={self.temp_dir}",
                "--num-cpus=1",
                '--resources={"node_a": 1}',
                "--include-dashboard=false",
                f"--ray-client-server-port={free_port()}",
                *_node_ports(),
            ],
            self.env,
        )

    def add_node(self, resource: str) -> str:
        """Start a node that joins the cluster; returns a marker of its processes."""
        ports = _node_ports()
        _ray_start(
            [
                f"--address={self.address}",
                "--num-cpus=1",
                f'--resources={{"{resource}": 1}}',
                *ports,
            ],
            self.env,
        )
        return ports[0].replace("--node-manager-port=", "--node_manager_port=")

    def kill_node(self, marker: str) -> None:
        found = _processes_of(marker)
        assert found, f"the node's raylet ({marker}) was not found"
        _kill_tree(found)

    def stop(self) -> None:
        _kill_tree(_processes_of(self.temp_dir))
        _kill_tree(_processes_of(self.address))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@contextlib.contextmanager
def _local_cluster() -> Iterator[LocalCluster]:
    env = {**os.environ, **FAST_FAILURE_ENV}
    env.pop("RAY_ADDRESS", None)
    cluster = LocalCluster(tempfile.mkdtemp(prefix="th2n-", dir="/tmp"), free_port(), env)
    try:
        cluster.start_head()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def two_nodes() -> Iterator[dict[str, Any]]:
    with _local_cluster() as cluster:
        second = cluster.add_node("node_b")
        yield {
            "address": cluster.address,
            "temp_dir": cluster.temp_dir,
            "second_node_marker": second,
            "env": cluster.env,
        }


@pytest.fixture
def one_node() -> Iterator[LocalCluster]:
    with _local_cluster() as cluster:
        yield cluster


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


async def test_a_node_that_joins_later_gets_hosts(
    stack: Stack, client: httpx.AsyncClient, alice: User, one_node: LocalCluster
) -> None:
    projects = [(await create_project(client, alice))["id"] for _ in range(6)]
    job = {
        "address": one_node.address,
        "database_url": stack.database_url,
        "redis_url": stack.redis_url,
        "org_id": alice.org_id,
        "user_id": alice.id,
        "projects": projects,
    }
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.join_node_driver", json.dumps(job)],
        env={**one_node.env, "RAY_ADDRESS": one_node.address},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    try:
        placed = _next_json(driver)
        assert placed.get("phase") == "placed", placed
        assert len(set(placed["nodes"].values())) == 1  # one node: both hosts on it
        first_node = next(iter(placed["nodes"].values()))
        epochs = await _epochs(stack.database_url, projects)  # every project is active

        second = one_node.add_node("node_b")
        spread = _tell(driver, "joined")
        assert spread.get("phase") == "spread", spread
        assert spread["took_s"] is not None, f"no host moved to the new node: {spread}"
        assert len(set(spread["nodes"].values())) == 2, spread
        assert len(set(spread["moved"])) == 1, "one host is enough for an even spread"
        # Ray honours the soft affinity (a host asks for a resource): the first move lands.
        assert len(spread["moved"]) == 1, f"moved again, having landed off target: {spread}"
        moved = spread["moved"][0]
        assert spread["nodes"][moved] != first_node
        # The moved host's projects re-activated on it with a new epoch (fencing
        # the old process); the other host's grains were not touched.
        after = await _epochs(stack.database_url, projects)
        owners = {p: host_for(uuid.UUID(p), host_names(2)) for p in projects}
        assert {p for p in projects if after[p] > epochs[p]} == {
            p for p in projects if owners[p] == moved
        }

        one_node.kill_node(second)
        regrouped = _tell(driver, "lost")
        assert regrouped.get("phase") == "regrouped", regrouped
        assert set(regrouped["nodes"].values()) == {first_node}  # restarted on the head

        one_node.add_node("node_c")
        done = _tell(driver, "joined")
    finally:
        with contextlib.suppress(Exception):
            driver.kill()
        driver.wait(timeout=30)
        for pipe in (driver.stdin, driver.stdout, driver.stderr):
            if pipe is not None:
                pipe.close()

    assert done.get("phase") == "done", done
    # Both hosts ran on the head since the loss (and would have stayed there);
    # one moves to the new node.
    assert done["took_s"] is not None, f"no host moved to the third node: {done}"
    assert len(done["moved"]) == 1, f"moved again, having landed off target: {done}"
    assert len(set(done["nodes"].values())) == 2
    assert first_node in done["nodes"].values()
    assert not done["failures"], done["failures"]
    print(
        f"moves {spread['moved']} then {done['moved']}; "
        f"node joined: a host moved {spread['took_s']:.1f} s after it, slowest write "
        f"{spread['slowest_write_s']:.2f} s; node lost: hosts answered after "
        f"{regrouped['took_s']:.1f} s, slowest write {regrouped['slowest_write_s']:.2f} s; "
        f"third node: a host moved {done['took_s']:.1f} s after it, slowest write "
        f"{done['slowest_write_s']:.2f} s; whole test {time.monotonic() - started:.0f} s"
    )
    conn = await asyncpg.connect(stack.database_url)
    try:
        for project_id, ids in done["acknowledged"].items():
            assert len(ids) > 5, f"{project_id}: writes stalled ({len(ids)} acknowledged)"
            stored = [
                str(r["id"])
                for r in await conn.fetch(
                    "SELECT id FROM tasks WHERE project_id = $1", uuid.UUID(project_id)
                )
            ]
            # Exactly once: every acknowledged write stored, none applied twice.
            assert sorted(stored) == sorted(ids), project_id
    finally:
        await conn.close()


async def _epochs(database_url: str, projects: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, epoch FROM projects WHERE id = ANY($1::uuid[])",
            [uuid.UUID(p) for p in projects],
        )
    finally:
        await conn.close()
    return {str(r["id"]): int(r["epoch"]) for r in rows}


def _tell(proc: subprocess.Popen[str], word: str) -> dict[str, Any]:
    assert proc.stdin is not None
    proc.stdin.write(word + "\n")
    proc.stdin.flush()
    return _next_json(proc)


def _next_json(proc: subprocess.Popen[str], timeout_s: float = 330) -> dict[str, Any]:
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
