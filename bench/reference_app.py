"""The ceiling: plain FastAPI on uvicorn answering Taskhive's paths from memory.

It serves the very task bodies the benchmark seeded (read from a JSON file mapping
id → body) the way the product does (orjson body, ETag), without auth, database or
actors: the most a Python worker does on this machine for the same JSON.

- `GET /tasks/{id}`: one task (the foundation benchmark, `bench/run.py`);
- the mixed workload's paths (`bench/locustfile.py`): `GET /api/v1/tasks/{id}`,
  `GET /api/v1/tasks?project_id=&status=`, `GET /api/v1/projects/{id}/board`,
  `GET /api/v1/search?q=`, `GET /api/v1/notifications`, `POST /api/v1/tasks`,
  `PATCH /api/v1/tasks/{id}`, `POST /api/v1/tasks/{id}/move`,
  `POST /api/v1/tasks/{id}/comments`. Writes change the worker's own copy only
  (each worker is a process): nothing is durable, which is the point of a ceiling.

    python -m bench.reference_app --port 8100 --tasks-file tasks.json [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import os
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

#: The kanban workflow's statuses, in board order (the product's default).
STATUSES = ("backlog", "todo", "in_progress", "in_review", "done")
_NOT_FOUND = Response(b'{"detail":"not found"}', status_code=404, media_type="application/json")


def _user_of(request: Request) -> str:
    """The token's subject, unverified: the ceiling does no authentication."""
    token = request.headers.get("authorization", "").rpartition(" ")[2]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    except (IndexError, ValueError):
        return ""
    return str(claims.get("sub", ""))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


class Memory:
    """Tasks by id, by project and status, by title word; inboxes by assignee."""

    def __init__(self, tasks: dict[str, dict[str, Any]]) -> None:
        self.tasks = tasks
        self.columns: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
            lambda: {s: [] for s in STATUSES}
        )
        self.words: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.inbox: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for body in sorted(tasks.values(), key=lambda t: t["rank"]):
            self.columns[body["project_id"]][body["status"]].append(body)
            for word in set(body["title"].lower().split()):
                self.words[word].append(body)
            mine = self.inbox[str(body["assignee_id"])]
            if len(mine) < 10:
                mine.append(self._notification(body))

    @staticmethod
    def _notification(task: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "kind": "assigned",
            "project_id": task["project_id"],
            "task_id": task["id"],
            "actor_id": task["reporter_id"],
            "version": 1,
            "title": f"{task['key']} was assigned to you",
            "summary": task["title"],
            "payload": {},
            "created_at": task["created_at"],
            "read_at": None,
        }

    def change(self, task: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        old_status = task["status"]
        task.update(changes)
        task["version"] += 1
        task["updated_at"] = datetime.now(UTC).isoformat()
        if task["status"] != old_status:
            self.columns[task["project_id"]][old_status].remove(task)
            self.columns[task["project_id"]][task["status"]].append(task)
        return task


def build_app(tasks: dict[str, dict[str, Any]]) -> FastAPI:
    app = FastAPI(title="Taskhive bench reference")
    mem = Memory(tasks)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/tasks/{task_id}")
    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: str) -> Response:
        body = mem.tasks.get(task_id)
        if body is None:
            return _NOT_FOUND
        return _json(body, headers={"ETag": f'"{body["version"]}"'})

    @app.get("/api/v1/tasks")
    async def list_tasks(project_id: str, status: str, limit: int = 50) -> Response:
        items = mem.columns[project_id].get(status, [])[:limit]
        return _json({"items": items, "next_cursor": None})

    @app.get("/api/v1/projects/{project_id}/board")
    async def board(project_id: str, limit: int = 200) -> Response:
        columns = mem.columns[project_id]
        out = [
            {"status": {"id": s}, "tasks": columns[s][:limit], "count": len(columns[s])}
            for s in STATUSES
        ]
        return _json({"workflow_version": 1, "columns": out})

    @app.get("/api/v1/search")
    async def search(q: str, limit: int = 20) -> Response:
        found = mem.words.get(q.lower(), [])
        items = [{"task": t, "score": 1.0, "highlights": {}} for t in found[:limit]]
        return _json({"items": items, "total": len(found), "next_cursor": None})

    @app.get("/api/v1/notifications")
    async def notifications(request: Request, limit: int = 50) -> Response:
        items = mem.inbox.get(_user_of(request), [])
        return _json({"items": items[:limit], "next_cursor": None, "unread_count": len(items)})

    @app.post("/api/v1/tasks", status_code=201)
    async def create(request: Request) -> Response:
        body = orjson.loads(await request.body())
        now = datetime.now(UTC).isoformat()
        task = {
            **next(iter(mem.tasks.values())),
            "id": str(uuid.uuid4()),
            "project_id": body["project_id"],
            "title": body["title"],
            "status": STATUSES[0],
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        mem.tasks[task["id"]] = task
        mem.columns[task["project_id"]][task["status"]].append(task)
        return _json(task, 201, {"ETag": '"1"'})

    @app.patch("/api/v1/tasks/{task_id}")
    @app.post("/api/v1/tasks/{task_id}/move")
    async def update(task_id: str, request: Request) -> Response:
        task = mem.tasks.get(task_id)
        if task is None:
            return _NOT_FOUND
        task = mem.change(task, orjson.loads(await request.body()))
        return _json(task, headers={"ETag": f'"{task["version"]}"'})

    @app.post("/api/v1/tasks/{task_id}/comments", status_code=201)
    async def comment(task_id: str, request: Request) -> Response:
        if task_id not in mem.tasks:
            return _NOT_FOUND
        body = orjson.loads(await request.body())
        now = datetime.now(UTC).isoformat()
        out = {"id": str(uuid.uuid4()), "task_id": task_id, "body": body["body"], "created_at": now}
        return _json(out, 201)

    return app


def create_app() -> FastAPI:
    """The app for a uvicorn worker: the bodies file is named by `BENCH_REF_TASKS`."""
    started = time.monotonic()
    app = build_app(orjson.loads(Path(os.environ["BENCH_REF_TASKS"]).read_bytes()))
    app.state.load_s = time.monotonic() - started
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--tasks-file", type=Path, required=True, help="JSON object: id → task body"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    os.environ["BENCH_REF_TASKS"] = str(args.tasks_file.resolve())
    uvicorn.run(
        "bench.reference_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
