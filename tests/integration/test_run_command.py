"""`taskhive up` (what `make run` starts): from an empty data dir to a ready server,
clean shutdown on Ctrl-C, and the data still there on the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.integration.conftest import free_port

pytestmark = pytest.mark.slow

READY_TIMEOUT_S = 120


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKHIVE_", "RAY_"))}
    env["TASKHIVE_HOSTS"] = "1"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cluster.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def _wait_ready(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "ready at" in line:
            return lines
    proc.kill()
    raise AssertionError("taskhive up did not become ready:\n" + "".join(lines[-40:]))


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    return out


def _leftovers(data_dir: Path, session: int) -> list[str]:
    """Live processes of the server's session (Ray, HAProxy, ...) or of its data dir."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmd = " ".join(p.info["cmdline"] or [])
        try:
            in_session = os.getsid(p.info["pid"]) == session
        except (ProcessLookupError, PermissionError):
            continue
        if in_session or str(data_dir) in cmd:
            found.append(f"{p.info['pid']}: {cmd}")
    return found


def _assert_nothing_left(data_dir: Path, session: int) -> None:
    deadline = time.monotonic() + 10
    while (left := _leftovers(data_dir, session)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], left


def test_up_starts_from_empty_dir_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    proc = _start(data_dir, port)
    try:
        started = time.monotonic()
        lines = _wait_ready(proc)
        assert any(str(data_dir) in line for line in lines), "the data dir is printed"
        assert any(url in line for line in lines), "the URL is printed"
        assert time.monotonic() - started < 60
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        signup = httpx.post(
            f"{url}/api/v1/auth/signup",
            json={"email": "keep@example.com", "name": "Keep", "password": "persist me"},
            timeout=30,
        )
        assert signup.status_code == 201
        token = signup.json()["access_token"]
        project = httpx.post(
            f"{url}/api/v1/projects",
            json={"name": "Durable"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert project.status_code == 201
    finally:
        out = _stop(proc)
    assert "stopped" in out
    _assert_nothing_left(data_dir, proc.pid)

    proc = _start(data_dir, port)
    try:
        _wait_ready(proc)
        login = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"email": "keep@example.com", "password": "persist me"},
            timeout=30,
        )
        assert login.status_code == 200
        listed = httpx.get(
            f"{url}/api/v1/projects",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            timeout=30,
        )
        assert [p["name"] for p in listed.json()["items"]] == ["Durable"]
    finally:
        _stop(proc)
    _assert_nothing_left(data_dir, proc.pid)
