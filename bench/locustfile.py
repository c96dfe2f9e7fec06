"""Taskhive's target traffic as locust scenarios: 80 % reads, 20 % writes, hot projects.

    BENCH_DATA=seeded.json locust -f bench/locustfile.py --host http://127.0.0.1:8000

`BENCH_DATA` is the data description the seeding step writes
(`bench/dataset.py`): users' access tokens, project ids with traffic weights
(Zipf: a few projects are hot), their task ids, the workflow's statuses and
words that occur in titles. Nothing else about the deployment is assumed, so
the same file drives Taskhive, the in-memory ceiling and the monolith
(`bench/reference_app.py`, `bench/monolith_app.py`), which serve the same paths.

User classes:

- `TaskhiveUser` (HTTP): get a task, list a project's tasks by status, the
  board, search, the inbox (80 %); create, change status, move, edit fields,
  comment (20 %). Request names start with `read:` or `write:`, the class whose
  p99 limit applies (200 ms / 500 ms).
- `BoardWatcher` (websocket, Taskhive only): subscribes to a hot project's board
  and reports each event's delivery lag (`push: event delivery`, from the
  event's commit time; client and server share a clock here).

`bench/locust_spike.py` adds the sprint-planning spike as a load shape.

Environment: `BENCH_THINK_S` = "min,max" seconds between a user's requests
(default "0,0": closed loop, as the stepped benchmark uses it);
`BENCH_RATE_PER_USER` = requests a second each user aims at (a fixed offered
load; overrides `BENCH_THINK_S`);
`BENCH_LATENCY_OUT` = a path where every request's latency is written as JSON
when the run ends (the benchmark computes exact per-class percentiles from it).
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from locust import FastHttpUser, User, between, constant_throughput, events, task

# -- the seeded data ----------------------------------------------------------------


def _load_data() -> dict[str, Any]:
    path = os.environ.get("BENCH_DATA")
    if not path:
        raise SystemExit("BENCH_DATA must name the data description the seeding step wrote")
    with open(path, "rb") as f:
        data: dict[str, Any] = json.load(f)
    return data


DATA = _load_data()
STATUSES: list[str] = DATA["statuses"]
WORDS: list[str] = DATA["search_words"]
USERS: list[dict[str, str]] = DATA["users"]
PROJECTS: list[dict[str, Any]] = DATA["projects"]
# Task operations pick among projects that have tasks, by traffic weight.
_TASKED = [p for p in PROJECTS if p["task_ids"]]
_CUMULATIVE = list(itertools.accumulate(p["weight"] for p in _TASKED))
_ALL_CUMULATIVE = list(itertools.accumulate(p["weight"] for p in PROJECTS))


def pick_project(with_tasks: bool = True) -> dict[str, Any]:
    """A project by traffic weight (the first ones are hot)."""
    pool, cumulative = (_TASKED, _CUMULATIVE) if with_tasks else (PROJECTS, _ALL_CUMULATIVE)
    at = random.random() * cumulative[-1]
    return pool[min(bisect.bisect_right(cumulative, at), len(pool) - 1)]


def pick_task() -> str:
    return str(random.choice(pick_project()["task_ids"]))


def _think() -> Any:
    rate = os.environ.get("BENCH_RATE_PER_USER")
    if rate:
        return constant_throughput(float(rate))
    low, _, high = os.environ.get("BENCH_THINK_S", "0,0").partition(",")
    return between(float(low), float(high or low))


# -- exact latencies for the benchmark ------------------------------------------------

_LATENCIES: dict[str, list[float]] = {}
_FAILURES: dict[str, int] = {}
_FIRST_FAILURE: dict[str, str] = {}
_ACKED_TASKS: dict[str, int] = {}
_ACKED_COMMENTS: list[str] = []


def _record(
    request_type: str, name: str, response_time: float, exception: Exception | None, **_: Any
) -> None:
    if exception is not None:
        _FAILURES[name] = _FAILURES.get(name, 0) + 1
        _FIRST_FAILURE.setdefault(name, repr(exception)[:300])
        return
    _LATENCIES.setdefault(name, []).append(round(response_time, 2))


def _acknowledge(name: str, text: str) -> None:
    """Remember what an acknowledged write returned: the task's new version (the
    newest per task), or the comment's id. The benchmark checks them against the
    database afterwards."""
    body = json.loads(text)
    if name == "write: comment":
        _ACKED_COMMENTS.append(str(body["id"]))
    elif _ACKED_TASKS.get(body["id"], 0) < body["version"]:
        _ACKED_TASKS[body["id"]] = int(body["version"])


def _dump(**_: Any) -> None:
    path = os.environ.get("BENCH_LATENCY_OUT")
    if not path:
        return
    with open(path, "w") as f:
        json.dump(
            {
                "latencies_ms": _LATENCIES,
                "failures": _FAILURES,
                "first_failure": _FIRST_FAILURE,
                "acknowledged": {"tasks": _ACKED_TASKS, "comments": _ACKED_COMMENTS},
            },
            f,
        )


# locust's event hooks are untyped; these casts give them the types they have.
cast(Callable[[Callable[..., None]], None], events.request.add_listener)(_record)
cast(Callable[[Callable[..., None]], None], events.quitting.add_listener)(_dump)
#: How non-HTTP users report a measurement.
_fire = cast(Callable[..., None], events.request.fire)


# -- HTTP users -------------------------------------------------------------------------


class _ApiUser(FastHttpUser):
    abstract = True
    wait_time = _think()
    network_timeout = 30.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        me = random.choice(USERS)
        self.headers = {"Authorization": f"Bearer {me['token']}"}
        self.json_headers = {**self.headers, "Content-Type": "application/json"}

    def _get(self, path: str, name: str) -> None:
        self.client.get(path, headers=self.headers, name=name)

    def _send(self, method: str, path: str, body: dict[str, Any], name: str) -> None:
        r = self.client.request(
            method, path, data=json.dumps(body), headers=self.json_headers, name=name
        )
        if 200 <= (r.status_code or 0) < 300:
            _acknowledge(name, r.text or "{}")

    # reads
    def get_task(self) -> None:
        self._get(f"/api/v1/tasks/{pick_task()}", "read: get task")

    def list_by_status(self) -> None:
        project = pick_project(with_tasks=False)["id"]
        status = random.choice(STATUSES)
        self._get(
            f"/api/v1/tasks?project_id={project}&status={status}&limit=50",
            "read: list by status",
        )

    def board(self) -> None:
        project = pick_project(with_tasks=False)["id"]
        self._get(f"/api/v1/projects/{project}/board?limit=50", "read: board")

    def search(self) -> None:
        self._get(f"/api/v1/search?q={random.choice(WORDS)}&limit=20", "read: search")

    def notifications(self) -> None:
        self._get("/api/v1/notifications?limit=20", "read: notifications")

    # writes
    def create_task(self) -> None:
        body = {
            "project_id": pick_project(with_tasks=False)["id"],
            "title": f"{random.choice(('Plan', 'Check', 'Ship'))} {random.choice(WORDS)}",
        }
        self._send("POST", "/api/v1/tasks", body, "write: create task")

    def update_status(self) -> None:
        body = {"status": random.choice(STATUSES)}
        self._send("PATCH", f"/api/v1/tasks/{pick_task()}", body, "write: update status")

    def move(self) -> None:
        body = {"status": random.choice(STATUSES)}
        self._send("POST", f"/api/v1/tasks/{pick_task()}/move", body, "write: move")

    def edit_fields(self) -> None:
        body = {
            "title": f"Edited {random.choice(WORDS)} {random.randrange(10**6)}",
            "priority": random.choice(("none", "low", "medium", "high", "urgent")),
        }
        self._send("PATCH", f"/api/v1/tasks/{pick_task()}", body, "write: edit fields")

    def comment(self) -> None:
        body = {"body": f"Looked at this: {random.choice(WORDS)} is fine now."}
        self._send("POST", f"/api/v1/tasks/{pick_task()}/comments", body, "write: comment")


class TaskhiveUser(_ApiUser):
    """The everyday mix: 80 % reads, 20 % writes."""

    weight = 4
    # A dict of weights, as locust documents (its annotation only names the list form).
    tasks = {  # type: ignore[assignment]
        _ApiUser.get_task: 30,
        _ApiUser.list_by_status: 20,
        _ApiUser.board: 10,
        _ApiUser.search: 10,
        _ApiUser.notifications: 10,
        _ApiUser.create_task: 3,
        _ApiUser.update_status: 5,
        _ApiUser.move: 4,
        _ApiUser.edit_fields: 5,
        _ApiUser.comment: 3,
    }


# -- websocket users ----------------------------------------------------------------------


class BoardWatcher(User):
    """A board left open: one websocket subscribed to a hot project, reporting the
    delivery lag of every event it receives (Taskhive's `/api/v1/ws` protocol)."""

    weight = 1
    wait_time = between(0, 0)

    def on_start(self) -> None:
        import websocket  # websocket-client: blocking sockets, which gevent patches

        me = random.choice(USERS)
        url = str(self.host).replace("http", "ws", 1) + "/api/v1/ws"
        started = time.perf_counter()
        self.ws = websocket.create_connection(url, timeout=10)
        self.ws.send(json.dumps({"type": "auth", "token": me["token"]}))
        self._until("ready")
        self.ws.send(json.dumps({"type": "subscribe", "project_id": PROJECTS[0]["id"]}))
        self._until("subscribed")
        _fire(
            request_type="WS",
            name="push: subscribe",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None,
            context={},
        )

    def _until(self, kind: str) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv())
            if message.get("type") == kind:
                return message
            if message.get("type") == "error":
                raise RuntimeError(f"websocket: {message}")

    @task
    def listen(self) -> None:
        import websocket

        self.ws.settimeout(5)
        try:
            message = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            self.ws.send('{"type":"ping"}')
            return
        if message.get("type") != "event" or not message.get("created_at"):
            return
        committed = datetime.fromisoformat(message["created_at"]).timestamp()
        _fire(
            request_type="WS",
            name="push: event delivery",
            response_time=max(0.0, (time.time() - committed) * 1000),
            response_length=0,
            exception=None,
            context={},
        )

    def on_stop(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
