"""Seeding: the user, org and projects through the HTTP API, tasks straight into PostgreSQL.

Tasks are bulk-copied into `tasks` and `task_lookup` and each project's `task_seq`
is set, before any grain is activated, so the grains load them from the database.
Rows are made by the same mapping the grains write with (`project_store._task_row`),
so the seed follows the schema as it grows; ranks are evenly spread in number order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import httpx
import orjson

from domain.projects import DEFAULT_STATUSES
from domain.ranks import spread
from domain.tasks import Priority, Task
from storage.project_store import _task_row

PASSWORD = "bench-password-123"  # a throw-away account in a throw-away database

#: A new project's workflow, cycled through. (The brief's open/in_progress/in_review/done
#: was the default when this was written; the product's default workflow decides.)
STATUSES: tuple[str, ...] = DEFAULT_STATUSES
PRIORITIES: tuple[Priority, ...] = tuple(Priority)  # none, low, medium, high, urgent


@dataclass(frozen=True, slots=True)
class Account:
    token: str
    user_id: UUID
    org_id: UUID


@dataclass(frozen=True, slots=True)
class SeededProject:
    id: UUID
    key: str


def project_key(index: int) -> str:
    """`0 → "BAAA"`, `1 → "BAAB"`, …: distinct valid keys (2-10 uppercase letters)."""
    if not 0 <= index < 26**3:
        raise ValueError("at most 17,576 projects")
    letters = []
    for _ in range(3):
        index, rest = divmod(index, 26)
        letters.append(chr(ord("A") + rest))
    return "B" + "".join(reversed(letters))


def _check(response: httpx.Response, expected: int) -> dict[str, object]:
    if response.status_code != expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} (expected {expected}): {response.text[:500]}"
        )
    body: dict[str, object] = response.json()
    return body


def create_account(client: httpx.Client) -> Account:
    """Sign up one user with a new organisation; returns its bearer token and ids.

    The email is new every run, so an external database may hold earlier runs.
    """
    email = f"bench-{uuid4().hex[:12]}@taskhive.io"
    body = _check(
        client.post(
            "/api/v1/auth/signup",
            json={"email": email, "name": "Bench", "password": PASSWORD, "org_name": "Bench org"},
        ),
        201,
    )
    user = body["user"]
    org = body["org"]
    assert isinstance(user, dict) and isinstance(org, dict)
    return Account(
        token=str(body["access_token"]), user_id=UUID(user["id"]), org_id=UUID(org["id"])
    )


def create_projects(client: httpx.Client, account: Account, count: int) -> list[SeededProject]:
    """Create `count` projects through the API, with explicit keys."""
    headers = {"Authorization": f"Bearer {account.token}"}
    projects = []
    for i in range(count):
        key = project_key(i)
        body = _check(
            client.post(
                "/api/v1/projects", json={"name": f"Bench {key}", "key": key}, headers=headers
            ),
            201,
        )
        projects.append(SeededProject(id=UUID(str(body["id"])), key=str(body["key"])))
    return projects


def make_tasks(account: Account, projects: list[SeededProject], per_project: int) -> list[Task]:
    """The seeded tasks: keys `<KEY>-<n>`, version 1, status and priority cycling."""
    base = datetime.now(UTC).replace(microsecond=0)
    ranks = spread(per_project)
    tasks = []
    tick = 0
    for project in projects:
        for n, rank in enumerate(ranks, start=1):
            at = base + timedelta(microseconds=tick)
            tick += 1
            tasks.append(
                Task(
                    id=uuid4(),
                    org_id=account.org_id,
                    project_id=project.id,
                    number=n,
                    key=f"{project.key}-{n}",
                    title=f"Seeded task {n} of {project.key}",
                    description=f"Benchmark task number {n}.",
                    status=STATUSES[(n - 1) % len(STATUSES)],
                    priority=PRIORITIES[(n - 1) % len(PRIORITIES)],
                    assignee_id=None,
                    reporter_id=account.user_id,
                    created_at=at,
                    updated_at=at,
                    version=1,
                    rank=rank,
                )
            )
    return tasks


def asyncpg_url(database_url: str) -> str:
    """asyncpg takes `postgresql://`, not SQLAlchemy's `postgresql+asyncpg://`."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url.removeprefix(prefix)
    return database_url


async def copy_tasks(conn: asyncpg.Connection, tasks: list[Task]) -> None:
    """COPY the tasks into `tasks` and `task_lookup`, in the caller's transaction,
    as the grain would write them (`project_store._task_row`)."""
    # COPY takes JSONB as text (the grain's inserts let SQLAlchemy encode it).
    rows = [
        {k: orjson.dumps(v).decode() if isinstance(v, dict) else v for k, v in row.items()}
        for row in map(_task_row, tasks)
    ]
    columns = list(rows[0])
    await conn.copy_records_to_table(
        "tasks", columns=columns, records=[tuple(r[c] for c in columns) for r in rows]
    )
    await conn.copy_records_to_table(
        "task_lookup",
        columns=["id", "org_id", "project_id", "key"],
        records=[(t.id, t.org_id, t.project_id, t.key) for t in tasks],
    )


async def insert_tasks(
    database_url: str, projects: list[SeededProject], tasks: list[Task], per_project: int
) -> None:
    """COPY the tasks into `tasks` and `task_lookup`; set every project's `task_seq`."""
    conn = await asyncpg.connect(asyncpg_url(database_url))
    try:
        async with conn.transaction():
            await copy_tasks(conn, tasks)
            await conn.execute(
                "UPDATE projects SET task_seq = $1, updated_at = now() WHERE id = ANY($2::uuid[])",
                per_project,
                [p.id for p in projects],
            )
        await conn.execute("ANALYZE tasks")
        await conn.execute("ANALYZE task_lookup")
        await conn.execute("ANALYZE projects")
    finally:
        await conn.close()
