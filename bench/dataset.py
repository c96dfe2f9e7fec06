"""The mixed-workload data set: users, hot and cold projects, their tasks and inboxes.

The product's target shape: 1,000 users in one organisation, 100 projects, 100 tasks per
user (100,000 tasks), skewed so that a few projects are hot. Each user's tasks
fall into projects with Zipf weights (`data_skew`); traffic later picks projects
with steeper Zipf weights (`traffic_skew`, see `bench/locustfile.py`), so the
first few projects take most of the load.

The owner, the organisation and the projects are made through the HTTP API;
everything else is bulk-copied into PostgreSQL before any grain activates (the
grains then load it like any other data). The other users' access tokens are
signed with the stack's JWT secret, as a login would issue them.

`write_description` saves what a load generator needs (tokens, project ids and
weights, task ids, statuses, search words) as JSON: `BENCH_DATA` points
`bench/locustfile.py` at it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import orjson

from bench import seed
from domain.ranks import spread
from domain.tasks import Priority, Task
from serve_app.security import Principal, issue_access_token

#: Words titles are made of; the load generator searches for them.
VERBS = ("Fix", "Add", "Refactor", "Document", "Test", "Speed up", "Remove", "Migrate")
NOUNS = (
    "login",
    "invoice",
    "dashboard",
    "export",
    "webhook",
    "search",
    "billing",
    "onboarding",
    "upload",
    "calendar",
    "sidebar",
    "payment",
    "report",
    "notification",
    "password",
    "avatar",
)
PLACES = ("page", "API", "mobile app", "settings", "email", "worker", "database", "cache")
SEARCH_WORDS: tuple[str, ...] = NOUNS


@dataclass(frozen=True, slots=True)
class Shape:
    """How much data, and how skewed."""

    users: int = 1000
    projects: int = 100
    tasks_per_user: int = 100
    data_skew: float = 0.6  # Zipf exponent of the tasks over projects
    traffic_skew: float = 1.1  # Zipf exponent of the requests over projects
    notifications_per_user: int = 10
    seed: int = 7


@dataclass(slots=True)
class Dataset:
    account: seed.Account
    projects: list[seed.SeededProject]
    users: list[tuple[UUID, str]]  # (user id, access token); the owner first
    tasks_by_project: dict[UUID, list[Task]] = field(default_factory=dict)

    @property
    def task_count(self) -> int:
        return sum(len(t) for t in self.tasks_by_project.values())


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Weights ∝ 1 / rank^exponent, summing to 1 (rank 1 is the first item)."""
    raw = [1.0 / (rank**exponent) for rank in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


def _title(rng: random.Random) -> str:
    return f"{rng.choice(VERBS)} {rng.choice(NOUNS)} {rng.choice(PLACES)}"


def make_tasks(
    account: seed.Account,
    projects: list[seed.SeededProject],
    user_ids: list[UUID],
    shape: Shape,
) -> dict[UUID, list[Task]]:
    """Every user's tasks (assigned to them), spread over projects by Zipf weights.

    Numbers run 1..n per project; ranks are spread evenly in number order; status
    and priority are drawn at random, reporters too.
    """
    rng = random.Random(shape.seed)
    weights = zipf_weights(len(projects), shape.data_skew)
    owners: dict[UUID, list[UUID]] = {p.id: [] for p in projects}
    for user in user_ids:
        for project in rng.choices(projects, weights, k=shape.tasks_per_user):
            owners[project.id].append(user)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    out: dict[UUID, list[Task]] = {}
    for project in projects:
        assignees = owners[project.id]
        ranks = spread(len(assignees)) if assignees else []
        tasks = []
        for n, (assignee, rank) in enumerate(zip(assignees, ranks, strict=True), start=1):
            at = base + timedelta(seconds=rng.randrange(30 * 86400))
            tasks.append(
                Task(
                    id=uuid4(),
                    org_id=account.org_id,
                    project_id=project.id,
                    number=n,
                    key=f"{project.key}-{n}",
                    title=_title(rng),
                    description=f"Task {n} of {project.key}: {_title(rng).lower()}.",
                    status=rng.choice(seed.STATUSES),
                    priority=rng.choice(tuple(Priority)),
                    assignee_id=assignee,
                    reporter_id=rng.choice(user_ids),
                    created_at=at,
                    updated_at=at,
                    version=1,
                    rank=rank,
                )
            )
        out[project.id] = tasks
    return out


async def insert_users(database_url: str, org_id: UUID, user_ids: list[UUID]) -> None:
    """Members of the organisation who never log in (no usable password)."""
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "users",
                columns=["id", "email", "name", "password_hash"],
                records=[
                    (u, f"bench-{u.hex[:16]}@taskhive.io", f"User {i}", "!")
                    for i, u in enumerate(user_ids)
                ],
            )
            await conn.copy_records_to_table(
                "org_members",
                columns=["org_id", "user_id", "role"],
                records=[(org_id, u, "member") for u in user_ids],
            )
    finally:
        await conn.close()


async def insert_tasks(database_url: str, tasks_by_project: dict[UUID, list[Task]]) -> None:
    """COPY the tasks into `tasks` and `task_lookup`; set each project's `task_seq`."""
    tasks = [t for ts in tasks_by_project.values() for t in ts]
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        async with conn.transaction():
            await seed.copy_tasks(conn, tasks)
            await conn.executemany(
                "UPDATE projects SET task_seq = $1, updated_at = now() WHERE id = $2",
                [(len(ts), pid) for pid, ts in tasks_by_project.items()],
            )
        for table in ("tasks", "task_lookup", "projects", "users", "org_members"):
            await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


async def insert_notifications(
    database_url: str, data: Dataset, per_user: int, rng_seed: int
) -> int:
    """An inbox for every user: `per_user` "assigned" notifications about their tasks."""
    rng = random.Random(rng_seed)
    by_assignee: dict[UUID, list[Task]] = {}
    for tasks in data.tasks_by_project.values():
        for t in tasks:
            if t.assignee_id is not None:
                by_assignee.setdefault(t.assignee_id, []).append(t)
    now = datetime.now(UTC)
    records = []
    for user_id, _token in data.users:
        mine = by_assignee.get(user_id, [])
        for i, task in enumerate(rng.sample(mine, min(per_user, len(mine)))):
            records.append(
                (
                    uuid4(),
                    data.account.org_id,
                    user_id,
                    task.project_id,
                    -(i + 1),  # below any real event version: never collides with one
                    task.id,
                    data.account.user_id,
                    "assigned",
                    f"{task.key} was assigned to you",
                    task.title,
                    now - timedelta(minutes=i),
                    None if i % 3 else now,
                )
            )
    conn = await asyncpg.connect(seed.asyncpg_url(database_url))
    try:
        await conn.copy_records_to_table(
            "notifications",
            columns=[
                "id",
                "org_id",
                "user_id",
                "project_id",
                "version",
                "task_id",
                "actor_id",
                "kind",
                "title",
                "summary",
                "created_at",
                "read_at",
            ],
            records=records,
        )
        await conn.execute("ANALYZE notifications")
    finally:
        await conn.close()
    return len(records)


def build(client: httpx.Client, database_url: str, jwt_secret: str, shape: Shape) -> Dataset:
    """Seed the whole data set into a running stack (API at `client`'s base URL)."""
    import asyncio

    account = seed.create_account(client)
    projects = seed.create_projects(client, account, shape.projects)
    others = [uuid4() for _ in range(shape.users - 1)]
    asyncio.run(insert_users(database_url, account.org_id, others))
    ttl = 12 * 3600
    users = [(account.user_id, account.token)] + [
        (
            u,
            issue_access_token(
                Principal(user_id=u, org_id=account.org_id), secret=jwt_secret, ttl_s=ttl
            ),
        )
        for u in others
    ]
    data = Dataset(account=account, projects=projects, users=users)
    data.tasks_by_project = make_tasks(account, projects, [u for u, _ in users], shape)
    asyncio.run(insert_tasks(database_url, data.tasks_by_project))
    if shape.notifications_per_user:
        asyncio.run(
            insert_notifications(database_url, data, shape.notifications_per_user, shape.seed)
        )
    return data


def description(data: Dataset, shape: Shape) -> dict[str, Any]:
    """What `bench/locustfile.py` reads: ids, tokens and weights, nothing else."""
    weights = zipf_weights(len(data.projects), shape.traffic_skew)
    return {
        "org_id": str(data.account.org_id),
        "statuses": list(seed.STATUSES),
        "search_words": list(SEARCH_WORDS),
        "users": [{"id": str(u), "token": tok} for u, tok in data.users],
        "projects": [
            {
                "id": str(p.id),
                "key": p.key,
                "weight": w,
                "task_ids": [str(t.id) for t in data.tasks_by_project.get(p.id, [])],
            }
            for p, w in zip(data.projects, weights, strict=True)
        ],
    }


def write_description(data: Dataset, shape: Shape, path: Path) -> Path:
    path.write_bytes(orjson.dumps(description(data, shape)))
    return path


def task_bodies(data: Dataset) -> dict[str, dict[str, Any]]:
    """id → the task's API JSON: what the in-memory reference serves."""
    return {str(t.id): t.as_json() for ts in data.tasks_by_project.values() for t in ts}


def main(argv: list[str] | None = None) -> int:
    """Seed a running deployment and write its data description for locust."""
    import argparse

    p = argparse.ArgumentParser(description="Seed the mixed-workload data set into a deployment")
    p.add_argument("--url", required=True, help="the API, e.g. http://127.0.0.1:8000")
    p.add_argument("--database-url", required=True, help="its PostgreSQL (postgresql://...)")
    p.add_argument("--jwt-secret", required=True, help="its TASKHIVE_JWT_SECRET (HS256)")
    default = Shape()
    p.add_argument("--users", type=int, default=default.users)
    p.add_argument("--projects", type=int, default=default.projects)
    p.add_argument("--tasks-per-user", type=int, default=default.tasks_per_user)
    p.add_argument("--out", type=Path, default=Path("bench-data.json"))
    args = p.parse_args(argv)
    shape = Shape(users=args.users, projects=args.projects, tasks_per_user=args.tasks_per_user)
    with httpx.Client(base_url=args.url, timeout=120.0) as client:
        data = build(client, args.database_url, args.jwt_secret, shape)
    write_description(data, shape, args.out)
    print(f"seeded {data.task_count:,} tasks; wrote {args.out} (run `taskhive reindex` for search)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
