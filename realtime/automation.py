"""Running automation rules: a consumer of the outbox that queues runs, and a
worker that carries them out through the project's grain.

The consumer, in the relay's transaction, queues one run per (rule, event) for
each enabled rule the event triggers — once, however often the event is
replayed. A run deeper than `MAX_DEPTH` rules is logged as `loop_stopped`.

The worker claims pending runs (`FOR UPDATE SKIP LOCKED`) and runs each in the
transaction that records its outcome: it reads the task from its grain, checks
the rule's condition (the filter language, evaluated in memory against the task
as the triggering event left it, folded from its events), and applies the
actions to the task as it is now. Task changes and comments go through
the grain with the rule's owner as actor, marked `caused_by`, under idempotency
keys derived from the run, so a run repeated after a crash changes nothing
twice. Notifications and webhook calls are rows written in the same
transaction. A rule failing `DISABLE_AFTER` times in a row is switched off and
its owner told.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
import ray
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from actors.placement import host_names
from actors.router import NAMESPACE, HostRouter
from domain import automation as rules
from domain.commands import AddComment, IdempotencyKey, UpdateTask
from domain.errors import DomainError, NotFound
from domain.filters import TaskFacts, matches, parse, resolve
from domain.task_fold import fold_one
from realtime.pushes import publish_all
from realtime.task_folds import TaskFolds
from storage import automation as store
from storage import notifications
from storage import tables as t
from storage.outbox import StoredEvent
from storage.project_store import task_from_row

log = logging.getLogger(__name__)

CONSUMER_NAME = "automation"
AfterCommit = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AutomationConfig:
    """Picklable settings handed to the relay actor; calling it makes the consumer."""

    hosts: int
    poll_s: float = 1.0
    batch: int = 20

    def __call__(self, engine: AsyncEngine, redis: aioredis.Redis | None) -> AutomationConsumer:
        return AutomationConsumer(self, engine, redis)


class AutomationConsumer:
    name = CONSUMER_NAME
    #: A rule's effect follows the change that triggered it; half a second is fine.
    linger_s = 0.5

    def __init__(
        self, config: AutomationConfig, engine: AsyncEngine, redis: aioredis.Redis | None
    ) -> None:
        self.worker = AutomationWorker(config, engine, redis)

    async def interested(self, conn: AsyncConnection, projects: Mapping[UUID, UUID]) -> set[UUID]:
        """The projects with an enabled rule: `handle` does nothing for the others,
        and most projects have none."""
        return await store.projects_with_rules(conn, projects)

    async def handle(
        self, conn: AsyncConnection, events: Sequence[StoredEvent]
    ) -> AfterCommit | None:
        if not events:
            return None
        enabled = await store.enabled_rules(conn, events[0].project_id)
        if not enabled:
            return None
        triggers = [(rule, rules.check_trigger(rule.trigger)) for rule in enabled]
        rows: list[dict[str, Any]] = []
        for e in events:
            if e.task_id is None:
                continue
            depth = rules.depth_of(e.payload) + 1
            for rule, trigger in triggers:
                if not rules.fires(trigger, e.type, e.payload):
                    continue
                too_deep = depth > rules.MAX_DEPTH
                rows.append(
                    {
                        "id": uuid4(),
                        "rule_id": rule.id,
                        "org_id": e.org_id,
                        "project_id": e.project_id,
                        "version": e.version,
                        "task_id": e.task_id,
                        "occasion": rules.occasion_for_event(e.version),
                        "event_type": e.type,
                        "depth": depth,
                        "status": "loop_stopped" if too_deep else "pending",
                        "detail": (
                            f"a change {depth - 1} rules deep; rules stop at {rules.MAX_DEPTH}"
                            if too_deep
                            else None
                        ),
                    }
                )
        if not await store.queue_runs(conn, rows):
            return None

        async def wake() -> None:
            self.worker.wake.set()

        return wake

    async def background(self) -> None:
        await self.worker.run()

    async def close(self) -> None:
        return None


class AutomationWorker:
    def __init__(
        self, config: AutomationConfig, engine: AsyncEngine, redis: aioredis.Redis | None
    ) -> None:
        self._config = config
        self._engine = engine
        self._redis = redis
        self._router: HostRouter | None = None
        self.wake = asyncio.Event()
        # Conditions read the task as its triggering event left it.
        self._folds: TaskFolds[dict[str, Any]] = TaskFolds(fold_one)

    def router(self) -> HostRouter:
        if self._router is None:
            names = host_names(self._config.hosts)
            self._router = HostRouter({n: ray.get_actor(n, namespace=NAMESPACE) for n in names})
        return self._router

    async def run_once(self) -> int:
        done = await self._fire_timed()
        pushes: list[tuple[str, bytes]] = []
        async with self._engine.begin() as conn:
            runs = await store.claim_pending(conn, self._config.batch)
            for run in runs:
                pushes += await self._execute(conn, run)
                done += 1
        await publish_all(self._redis, pushes)
        return done

    async def _execute(self, conn: AsyncConnection, run: Any) -> list[tuple[str, bytes]]:
        now = datetime.now(UTC)
        rule = await store.rule_by_id(conn, run.rule_id)
        if rule is None or not rule.enabled:
            await store.finish_run(conn, run.id, status="skipped", detail="rule off", now=now)
            return []
        pushes: list[tuple[str, bytes]] = []
        try:
            async with conn.begin_nested():
                outcome, detail, pushes = await self._apply(conn, rule, run)
        except DomainError as error:
            outcome, detail = "failed", error.detail
        except Exception as exc:  # a bug or an outage: logged, counted, never silent
            log.exception("automation run %s failed", run.id)
            outcome, detail = "failed", f"{type(exc).__name__}: {exc}"
        await store.finish_run(conn, run.id, status=outcome, detail=detail, now=now)
        if outcome == "skipped":
            return pushes
        failures = await store.rule_outcome(conn, rule.id, failed=outcome == "failed")
        if failures >= rules.DISABLE_AFTER:
            reason = f"{failures} runs in a row failed; the last: {detail}"
            off = await store.disable(conn, rule.id, reason)
            if off is not None and off.created_by is not None:
                pushes += await _notify(
                    conn,
                    [off.created_by],
                    off,
                    run,
                    kind="automation_disabled",
                    title=f"Rule “{off.name}” was switched off",
                    summary=reason,
                )
        return pushes

    async def _apply(
        self, conn: AsyncConnection, rule: Any, run: Any
    ) -> tuple[str, str | None, list[tuple[str, bytes]]]:
        router = self.router()
        try:
            task = await router.call(
                run.project_id, "get_task", run.org_id, run.project_id, run.task_id
            )
        except NotFound:
            return "skipped", "the task is gone", []
        if rule.condition:
            # The task as the triggering event left it: what happened since
            # (another rule's change) must not decide whether this one applies.
            # A timed run has no event: the task as it is now.
            then: dict[str, Any] | None = task
            if run.version is not None:
                then = await self._folds.as_of(conn, run.project_id, run.task_id, run.version)
            if then is None or not await _holds(conn, rule, run, then):
                return "skipped", "condition not met", []
        owner = rule.created_by
        role = await conn.scalar(
            select(t.org_members.c.role).where(
                t.org_members.c.org_id == run.org_id, t.org_members.c.user_id == owner
            )
        )
        if role is None:
            raise DomainError("the rule's owner is no longer a member")
        cause = {"rule_id": str(rule.id), "depth": run.depth}
        changes = rules.task_changes(rule.actions)
        labels = [a["label"] for a in rule.actions if a["type"] == "add_label"]
        if labels:
            changes["labels"] = list(dict.fromkeys([*task["labels"], *labels]))
        done: list[str] = []
        if changes:
            for name in ("assignee_id", "parent_id", "sprint_id"):
                if isinstance(changes.get(name), str):
                    changes[name] = UUID(changes[name])
            command = UpdateTask(owner, run.task_id, changes, role=role, cause=cause)
            await router.call(
                run.project_id,
                "apply",
                run.org_id,
                run.project_id,
                command,
                _key(run, owner, "update", changes),
            )
            done.append("updated " + ", ".join(sorted(changes)))
        pushes: list[tuple[str, bytes]] = []
        for i, action in enumerate(rule.actions):
            match action["type"]:
                case "add_comment":
                    comment = AddComment(owner, run.task_id, action["body"], cause=cause)
                    await router.call(
                        run.project_id,
                        "apply",
                        run.org_id,
                        run.project_id,
                        comment,
                        _key(run, owner, f"comment{i}", action),
                    )
                    done.append("commented")
                case "notify":
                    users = [UUID(u) for u in action["user_ids"]]
                    pushes += await _notify(
                        conn,
                        users,
                        rule,
                        run,
                        kind="automation",
                        title=f"{task['key']}: {task['title']}"[:300],
                        summary=f"Rule “{rule.name}”",
                    )
                    done.append(f"notified {len(users)}")
                case "call_webhook":
                    await _call_webhook(conn, UUID(action["webhook_id"]), rule, run, task)
                    done.append("queued a webhook call")
        return "succeeded", "; ".join(done) or None, pushes

    async def _fire_timed(self) -> int:
        """Queue runs for the timed rules whose time has come; how many were queued."""
        now = datetime.now(UTC)
        queued = 0
        async with self._engine.begin() as conn:
            for rule in await store.due_timed_rules(conn, now=now, limit=10):
                trigger = rules.check_trigger(rule.trigger)
                tasks = await _timed_candidates(conn, rule, trigger, now)
                if rule.condition:
                    tasks = [x for x in tasks if await _holds(conn, rule, x, x.json)]
                rows = [
                    {
                        "id": uuid4(),
                        "rule_id": rule.id,
                        "org_id": rule.org_id,
                        "project_id": rule.project_id,
                        "version": None,
                        "task_id": x.task_id,
                        "occasion": (
                            rules.occasion_for_due(x.due)
                            if trigger.type == "due_soon" and x.due is not None
                            else rules.occasion_for_firing(now)
                        ),
                        "event_type": trigger.type,
                        "depth": 1,
                        "status": "pending",
                    }
                    for x in tasks[: rules.MAX_TASKS_PER_FIRING]
                ]
                queued += await store.queue_runs(conn, rows)
                await store.set_next_run(conn, rule.id, trigger.next_firing(now))
        return queued

    async def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                done = await self.run_once()
            except Exception:
                log.exception("automation pass failed; retrying")
                done = 0
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._config.poll_s)


def _key(run: Any, owner: UUID, step: str, body: Any) -> IdempotencyKey:
    digest = hashlib.sha256(orjson.dumps(body, default=str)).hexdigest()
    return IdempotencyKey(run.org_id, owner, f"rule-run:{run.id}:{step}", digest)


async def _holds(conn: AsyncConnection, rule: Any, run: Any, task: dict[str, Any]) -> bool:
    """The rule's condition against the task now, the words of the filter read as
    the rule's owner would mean them."""
    scope, statuses = await store.condition_scope(
        conn,
        org_id=run.org_id,
        project_id=run.project_id,
        me=rule.created_by,
        now=datetime.now(UTC),
    )
    predicate, _ = resolve(parse(rule.condition), scope)
    category = next((s["category"] for s in statuses if s["id"] == task["status"]), None)
    return matches(predicate, TaskFacts(task, category=category))


async def _notify(
    conn: AsyncConnection,
    users: Sequence[UUID],
    rule: Any,
    run: Any,
    *,
    kind: str,
    title: str,
    summary: str,
) -> list[tuple[str, bytes]]:
    members = set(
        await conn.scalars(
            select(t.org_members.c.user_id).where(
                t.org_members.c.org_id == run.org_id, t.org_members.c.user_id.in_(list(users))
            )
        )
    )
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid4(),
            "org_id": run.org_id,
            "user_id": user,
            "project_id": run.project_id,
            "version": run.version,
            "task_id": run.task_id,
            "actor_id": rule.created_by,
            "kind": kind,
            "title": title,
            "summary": summary,
            "created_at": now,
            "payload": {"rule_id": str(rule.id), "rule_name": rule.name},
        }
        for user in users
        if user in members
    ]
    inserted = await notifications.insert_notifications(conn, rows)
    return [
        (
            f"user:{r.user_id}",
            orjson.dumps(
                {
                    "type": "notification",
                    "notification": notifications.notification_json(r._mapping),
                }
            ),
        )
        for r in inserted
    ]


async def _call_webhook(
    conn: AsyncConnection, hook_id: UUID, rule: Any, run: Any, task: dict[str, Any]
) -> None:
    hook = await conn.execute(
        select(t.webhooks.c.id, t.webhooks.c.active).where(
            t.webhooks.c.id == hook_id, t.webhooks.c.org_id == run.org_id
        )
    )
    found = hook.one_or_none()
    if found is None or not found.active:
        raise DomainError("the rule's webhook is missing or switched off")
    delivery = uuid4()
    payload = {
        "id": str(delivery),
        "type": "automation.rule",
        "created_at": datetime.now(UTC).isoformat(),
        "organization_id": str(run.org_id),
        "project_id": str(run.project_id),
        "rule": {"id": str(rule.id), "name": rule.name},
        "task_id": str(run.task_id),
        "task": task,
        "data": {"trigger_event": run.event_type, "trigger_version": run.version},
    }
    await conn.execute(
        t.webhook_deliveries.insert().values(
            id=delivery,
            webhook_id=hook_id,
            org_id=run.org_id,
            project_id=run.project_id,
            event_type="automation.rule",
            payload=payload,
            next_attempt_at=datetime.now(UTC),
        )
    )


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A task a timed rule may act on (shaped like a run for `_holds`)."""

    org_id: UUID
    project_id: UUID
    task_id: UUID
    due: Any
    json: dict[str, Any]


async def _timed_candidates(
    conn: AsyncConnection, rule: Any, trigger: rules.Trigger, now: datetime
) -> list[_Candidate]:
    """The project's tasks a timed trigger looks at: every task for a schedule,
    open tasks due within the window for `due_soon`."""
    c = t.tasks.c
    query = select(t.tasks).where(c.project_id == rule.project_id)
    if trigger.type == "due_soon":
        first, last = rules.due_window(trigger, now)
        workflow = await conn.scalar(
            select(t.projects.c.workflow).where(t.projects.c.id == rule.project_id)
        )
        done = [s["id"] for s in (workflow or {}).get("statuses", []) if s["category"] == "done"]
        query = query.where(c.due_date >= first, c.due_date <= last, c.status.not_in(done))
    rows = await conn.execute(query.order_by(c.number).limit(5000))
    found = []
    for row in rows:
        task = task_from_row(row)
        found.append(
            _Candidate(rule.org_id, rule.project_id, task.id, task.due_date, task.as_json())
        )
    return found
