"""The monolith a developer would write instead: FastAPI + asyncpg on the same tables.

Serves the mixed workload's paths (`bench/locustfile.py`) straight from Taskhive's
PostgreSQL tables: one query per read, one transaction per write (the row change
plus a bump of the project's `version`, as every Taskhive write does). Access
tokens are Taskhive's (HS256, the same secret), verified on every request; every
query is scoped by the token's organisation. No actors, no cache, no outbox.

Search uses PostgreSQL full-text search over titles, with the GIN index that
`SEARCH_INDEX_DDL` creates (the benchmark creates it before measuring this app and
drops it afterwards, so the other targets do not pay for it).

    BENCH_DATABASE_URL=postgresql://... BENCH_JWT_SECRET=... \\
        python -m bench.monolith_app --port 8200 --workers 2
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from domain.ranks import after

STATUSES = ("backlog", "todo", "in_progress", "in_review", "done")
PRIORITIES = ("none", "low", "medium", "high", "urgent")
SEARCH_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS bench_monolith_title_fts ON tasks "
    "USING gin (to_tsvector('simple', title))"
)
SEARCH_INDEX_DROP = "DROP INDEX IF EXISTS bench_monolith_title_fts"

_COLS = (
    "t.id, t.key, t.project_id, t.title, t.description, t.status, t.priority, "
    "t.assignee_id, t.reporter_id, t.created_at, t.updated_at, t.version, t.rank, "
    "t.parent_id, t.estimate, t.due_date, t.start_date, t.labels, t.watchers, "
    "t.sprint_id, t.custom_fields"
)
_GET = f"""SELECT {_COLS} FROM task_lookup l
    JOIN tasks t ON t.project_id = l.project_id AND t.id = l.id
    WHERE l.id = $1 AND l.org_id = $2"""
_LIST = f"""SELECT {_COLS} FROM tasks t
    WHERE t.project_id = $1 AND t.org_id = $2 AND t.status = ANY($3::text[])
    ORDER BY t.number LIMIT $4"""
_BOARD = f"""SELECT * FROM (
    SELECT {_COLS}, row_number() OVER w AS rn, count(*) OVER (PARTITION BY t.status) AS cnt
    FROM tasks t WHERE t.project_id = $1 AND t.org_id = $2
    WINDOW w AS (PARTITION BY t.status ORDER BY t.rank, t.number)) c WHERE rn <= $3"""
_SEARCH = f"""SELECT {_COLS}, count(*) OVER () AS total FROM tasks t
    WHERE t.org_id = $1 AND to_tsvector('simple', t.title) @@ plainto_tsquery('simple', $2)
    ORDER BY t.updated_at DESC LIMIT $3"""
_INBOX = """SELECT n.*, (SELECT count(*) FROM notifications u
        WHERE u.user_id = $1 AND u.org_id = $2 AND u.read_at IS NULL) AS unread
    FROM notifications n WHERE n.user_id = $1 AND n.org_id = $2
    ORDER BY n.created_at DESC, n.id DESC LIMIT $3"""
_BUMP = "UPDATE projects SET version = version + 1, updated_at = now() WHERE id = $1"
_WHERE_TASK = "FROM task_lookup l WHERE l.id = $1 AND l.org_id = $2 AND t.project_id = l.project_id AND t.id = l.id"
_PATCH = f"""UPDATE tasks t SET title = coalesce($3, t.title), priority = coalesce($4, t.priority),
    status = coalesce($5, t.status), version = t.version + 1, updated_at = now()
    {_WHERE_TASK} RETURNING {_COLS}"""
_MOVE = f"""UPDATE tasks t SET status = $3, rank = $4, version = t.version + 1, updated_at = now()
    {_WHERE_TASK} RETURNING {_COLS}"""
_LAST_RANK = "SELECT max(rank) FROM tasks WHERE project_id = $1 AND status = $2"
_PROJECT_OF = "SELECT project_id FROM task_lookup WHERE id = $1 AND org_id = $2"
_NEXT_NUMBER = """UPDATE projects SET task_seq = task_seq + 1, version = version + 1,
    updated_at = now() WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL RETURNING key, task_seq"""
_INSERT = f"""INSERT INTO tasks AS t (project_id, id, org_id, number, key, title, status,
    reporter_id, created_at, updated_at, version, rank)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), 1, $9) RETURNING {_COLS}"""
_INSERT_LOOKUP = "INSERT INTO task_lookup (id, org_id, project_id, key) VALUES ($1, $2, $3, $4)"
_COMMENT = """INSERT INTO comments (id, org_id, project_id, task_id, author_id, body)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, task_id, author_id, body, created_at"""


class Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _json(body: Any, status: int = 200, etag: int | None = None) -> Response:
    headers = {"ETag": f'"{etag}"'} if etag is not None else None
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def task_json(r: asyncpg.Record) -> dict[str, Any]:
    """A row in the API's task shape (`domain.tasks.Task.as_json`)."""
    return {
        "id": str(r["id"]),
        "key": r["key"],
        "project_id": str(r["project_id"]),
        "title": r["title"],
        "description": r["description"],
        "status": r["status"],
        "priority": r["priority"],
        "assignee_id": _str(r["assignee_id"]),
        "reporter_id": str(r["reporter_id"]),
        "created_at": _iso(r["created_at"]),
        "updated_at": _iso(r["updated_at"]),
        "version": r["version"],
        "rank": r["rank"],
        "parent_id": _str(r["parent_id"]),
        "estimate": r["estimate"],
        "due_date": _iso(r["due_date"]),
        "start_date": _iso(r["start_date"]),
        "labels": list(r["labels"]),
        "watchers": [str(w) for w in r["watchers"]],
        "sprint_id": _str(r["sprint_id"]),
        "custom_fields": r["custom_fields"],
    }


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Problem(404, "not found") from None


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


def build_app(database_url: str, secret: str, pool_size: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            database_url, min_size=pool_size, max_size=pool_size, init=_init
        )
        yield
        await app.state.pool.close()

    app = FastAPI(title="Taskhive bench monolith", lifespan=lifespan)

    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem) -> Response:
        body = orjson.dumps({"status": exc.status, "detail": exc.detail})
        return Response(body, exc.status, media_type="application/problem+json")

    def caller(request: Request) -> tuple[uuid.UUID, uuid.UUID]:
        """(user id, org id) from a valid Taskhive access token; 401 otherwise."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
            return uuid.UUID(claims["sub"]), uuid.UUID(claims["org"])
        except (jwt.PyJWTError, KeyError, ValueError):
            raise Problem(401, "not authenticated") from None

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.pool

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: str, request: Request) -> Response:
        _, org = caller(request)
        row = await pool(request).fetchrow(_GET, _uuid(task_id), org)
        if row is None:
            raise Problem(404, "task not found")
        return _json(task_json(row), etag=row["version"])

    @app.get("/api/v1/tasks")
    async def list_tasks(
        request: Request, project_id: str, status: str, limit: int = 50
    ) -> Response:
        _, org = caller(request)
        statuses = [s for s in STATUSES if s != "done"] if status == "open" else [status]
        rows = await pool(request).fetch(_LIST, _uuid(project_id), org, statuses, min(limit, 200))
        return _json({"items": [task_json(r) for r in rows], "next_cursor": None})

    @app.get("/api/v1/projects/{project_id}/board")
    async def board(request: Request, project_id: str, limit: int = 200) -> Response:
        _, org = caller(request)
        rows = await pool(request).fetch(_BOARD, _uuid(project_id), org, min(limit, 1000))
        columns: dict[str, dict[str, Any]] = {
            s: {"status": {"id": s}, "tasks": [], "count": 0} for s in STATUSES
        }
        for r in rows:
            column = columns.setdefault(r["status"], {"status": {"id": r["status"]}, "tasks": []})
            column["tasks"].append(task_json(r))
            column["count"] = r["cnt"]
        return _json({"workflow_version": 1, "columns": list(columns.values())})

    @app.get("/api/v1/search")
    async def search(request: Request, q: str, limit: int = 20) -> Response:
        _, org = caller(request)
        rows = await pool(request).fetch(_SEARCH, org, q, min(limit, 100))
        items = [{"task": task_json(r), "score": 1.0, "highlights": {}} for r in rows]
        total = rows[0]["total"] if rows else 0
        return _json({"items": items, "total": total, "next_cursor": None})

    @app.get("/api/v1/notifications")
    async def notifications(request: Request, limit: int = 50) -> Response:
        user, org = caller(request)
        rows = await pool(request).fetch(_INBOX, user, org, min(limit, 100))
        items = [
            {
                "id": str(r["id"]),
                "kind": r["kind"],
                "project_id": str(r["project_id"]),
                "task_id": _str(r["task_id"]),
                "actor_id": _str(r["actor_id"]),
                "version": r["version"],
                "title": r["title"],
                "summary": r["summary"],
                "payload": r["payload"],
                "created_at": _iso(r["created_at"]),
                "read_at": _iso(r["read_at"]),
            }
            for r in rows
        ]
        unread = rows[0]["unread"] if rows else 0
        return _json({"items": items, "next_cursor": None, "unread_count": unread})

    @app.post("/api/v1/tasks", status_code=201)
    async def create(request: Request) -> Response:
        user, org = caller(request)
        body = orjson.loads(await request.body())
        project, title = _uuid(str(body.get("project_id"))), str(body.get("title") or "")
        if not 1 <= len(title) <= 255:
            raise Problem(422, "title must be 1-255 characters")
        async with pool(request).acquire() as conn, conn.transaction():
            numbered = await conn.fetchrow(_NEXT_NUMBER, project, org)
            if numbered is None:
                raise Problem(404, "project not found")
            # Appended as the grains append (`after`): midpoints would halve the space
            # left each time and leave columns the next Taskhive round must rebalance.
            rank = after(await conn.fetchval(_LAST_RANK, project, STATUSES[0]))
            key = f"{numbered['key']}-{numbered['task_seq']}"
            task_id = uuid.uuid4()
            row = await conn.fetchrow(
                _INSERT,
                project,
                task_id,
                org,
                numbered["task_seq"],
                key,
                title,
                STATUSES[0],
                user,
                rank,
            )
            await conn.execute(_INSERT_LOOKUP, task_id, org, project, key)
        return _json(task_json(row), 201, etag=1)

    @app.patch("/api/v1/tasks/{task_id}")
    async def patch(task_id: str, request: Request) -> Response:
        _, org = caller(request)
        body = orjson.loads(await request.body())
        status, priority, title = body.get("status"), body.get("priority"), body.get("title")
        if status is not None and status not in STATUSES:
            raise Problem(422, "status is not one of the workflow's")
        if priority is not None and priority not in PRIORITIES:
            raise Problem(422, "priority is not one of " + ", ".join(PRIORITIES))
        async with pool(request).acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_PATCH, _uuid(task_id), org, title, priority, status)
            if row is None:
                raise Problem(404, "task not found")
            await conn.execute(_BUMP, row["project_id"])
        return _json(task_json(row), etag=row["version"])

    @app.post("/api/v1/tasks/{task_id}/move")
    async def move(task_id: str, request: Request) -> Response:
        _, org = caller(request)
        status = orjson.loads(await request.body()).get("status")
        if status not in STATUSES:
            raise Problem(422, "status is not one of the workflow's")
        async with pool(request).acquire() as conn, conn.transaction():
            project = await conn.fetchval(_PROJECT_OF, _uuid(task_id), org)
            if project is None:
                raise Problem(404, "task not found")
            rank = after(await conn.fetchval(_LAST_RANK, project, status))
            row = await conn.fetchrow(_MOVE, _uuid(task_id), org, status, rank)
            await conn.execute(_BUMP, project)
        return _json(task_json(row), etag=row["version"])

    @app.post("/api/v1/tasks/{task_id}/comments", status_code=201)
    async def comment(task_id: str, request: Request) -> Response:
        user, org = caller(request)
        text = str(orjson.loads(await request.body()).get("body") or "")
        if not text.strip():
            raise Problem(422, "body may not be empty")
        async with pool(request).acquire() as conn, conn.transaction():
            project = await conn.fetchval(_PROJECT_OF, _uuid(task_id), org)
            if project is None:
                raise Problem(404, "task not found")
            row = await conn.fetchrow(
                _COMMENT, uuid.uuid4(), org, project, _uuid(task_id), user, text
            )
            await conn.execute(_BUMP, project)
        out = {k: _iso(v) if k == "created_at" else str(v) for k, v in row.items()}
        return _json(out, 201)

    return app


def create_app() -> FastAPI:
    """The app for a uvicorn worker, configured by `BENCH_*` environment variables."""
    return build_app(
        os.environ["BENCH_DATABASE_URL"],
        os.environ["BENCH_JWT_SECRET"],
        int(os.environ.get("BENCH_POOL_SIZE", "10")),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    uvicorn.run(
        "bench.monolith_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
