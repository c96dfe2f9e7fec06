"""`ProjectHost`: a Ray actor hosting many project grains.

Grains activate on first use (load from PostgreSQL, take a new epoch) and
passivate after `idle_seconds` without use. The host is stateless beyond its
grains: when Ray restarts it (its constructor runs again) every grain simply
re-activates from PostgreSQL on next use.

Callers are Serve replicas through `actors.router.HostRouter`; every method takes
the caller's organisation and answers `NotFound` for another tenant's project.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from typing import Any
from uuid import UUID

import orjson
import ray

from actors import host_commit, views
from actors.grain import GrainState, ProjectGrain, TaskQuery
from actors.outbox import WAKE_CHANNEL
from actors.publisher import EventPublisher
from domain.commands import Command, IdempotencyKey, Reply
from domain.errors import NotFound
from domain.events import Event
from domain.projects import Project
from storage import channel as host_channel
from storage import task_load, telemetry, tracing
from storage.breaker import fast_redis
from storage.db import create_engine
from storage.project_store import ProjectStore

log = logging.getLogger(__name__)

#: What a replica may call over a host's channel (`storage.channel`): the reads and `apply`.
CHANNEL_METHODS = frozenset(
    {
        "apply",
        "get_task",
        "get_task_json",
        "list_tasks",
        "list_tasks_json",
        "board_json",
        "get_project",
        "get_workflow",
        "get_labels",
        "task_transitions",
        "task_progress",
        "list_sprints",
    }
)


class RunsAsCaller:
    """`invoke`: how `actors.router.HostRouter` calls an actor on behalf of a request."""

    async def invoke(self, method: str, context: tuple[str, str], *args: Any) -> Any:
        """Run `method(*args)` as the request `context` = (request id, traceparent)
        that made it: its log records and spans then carry them. (They travel as an
        argument, not in the Ray task's name: names per request make Ray keep
        per-name metrics without bound.)"""
        if method.startswith("_") or method == "invoke":
            raise ValueError(f"not a host method: {method!r}")
        request_id, parent = context
        telemetry.REQUEST_ID.set(request_id)
        tracing.INCOMING_TRACEPARENT.set(parent)
        result = getattr(self, method)(*args)
        return await result if inspect.isawaitable(result) else result


class ProjectHost(RunsAsCaller):
    """Hosts project grains. Construct through Ray (see `actors.router.ensure_hosts`)."""

    def __init__(
        self,
        name: str,
        database_url: str,
        redis_url: str | None,
        *,
        idle_seconds: float = 600.0,
        pool_size: int = 10,
    ) -> None:
        self.name = name
        self._store = ProjectStore(create_engine(database_url, pool_size=pool_size))
        # The grains' batches go in combined transactions (see `actors.host_commit`).
        self._committer = host_commit.HostCommitter(self._store) if host_commit.enabled() else None
        # Short socket limits: a hung Redis must not hold a grain's publish (its commit
        # is already done; subscribers catch up by version).
        self._redis = fast_redis(redis_url) if redis_url else None
        self._publisher = EventPublisher(self._redis, WAKE_CHANNEL) if self._redis else None
        self._idle_seconds = idle_seconds
        self._grains: dict[UUID, asyncio.Task[ProjectGrain | None]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._republisher: asyncio.Task[None] | None = None
        # Replicas' calls arrive here too, cheaper than a Ray call (`storage.channel`).
        self._channel = host_channel.ChannelServer(self._run_for_channel, CHANNEL_METHODS)
        telemetry.on_snapshot(self._refresh_metrics)
        tracing.configure("taskhive-host")

    # -- grain directory -------------------------------------------------------

    def _activation(self, project_id: UUID) -> asyncio.Task[ProjectGrain | None]:
        """The project's grain activation, started now if there is none."""
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_idle())
            self._republisher = asyncio.create_task(self._republish())
        activation = self._grains.get(project_id)
        if activation is None:
            commit = self._committer.commit if self._committer is not None else None
            activation = asyncio.create_task(
                ProjectGrain.activate(project_id, self._store, self._publish, commit)
            )
            # A read served beside it may leave nobody awaiting a failed activation
            # (the next request finds it and activates again): no warning for that.
            activation.add_done_callback(lambda a: a.cancelled() or a.exception())
            self._grains[project_id] = activation
            telemetry.ACTIVATIONS.inc()
        return activation

    async def _grain(self, org_id: UUID, project_id: UUID) -> ProjectGrain:
        """The active grain of a project visible to `org_id`; activates it if needed."""
        activation = self._activation(project_id)
        try:
            grain = await asyncio.shield(activation)
        except Exception:
            self._grains.pop(project_id, None)
            raise
        if grain is None or grain.state is not GrainState.READY:
            # Missing, deleted or fenced: forget it so the next call activates anew.
            if self._grains.get(project_id) is activation:
                del self._grains[project_id]
            if grain is None:
                raise NotFound("project not found")
            telemetry.PASSIVATIONS.labels(grain.state.value).inc()
            await grain.passivate()
            return await self._grain(org_id, project_id)
        grain.check_org(org_id)
        return grain

    async def _reap_idle(self) -> None:
        interval = max(0.05, min(self._idle_seconds / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            for project_id, activation in list(self._grains.items()):
                if not activation.done() or activation.cancelled() or activation.exception():
                    continue
                grain = activation.result()
                if grain is not None and grain.is_idle(self._idle_seconds):
                    del self._grains[project_id]
                    telemetry.PASSIVATIONS.labels("idle").inc()
                    await grain.passivate()

    async def _publish(self, project: Project, events: list[Event]) -> None:
        """Publish committed events to `project:{id}`; loss here is repaired by replay."""
        if self._publisher is not None:
            await self._publisher.publish(project.id, events)

    async def _republish(self) -> None:
        while self._publisher is not None:
            await asyncio.sleep(1.0)
            await self._publisher.republish()

    # -- the API used by Serve replicas ---------------------------------------------

    async def apply(
        self, org_id: UUID, project_id: UUID, command: Command, idempotency: IdempotencyKey | None
    ) -> Reply:
        with tracing.span(
            "host.apply",
            traceparent=tracing.incoming_traceparent(),
            attributes={"taskhive.host": self.name, "taskhive.command": type(command).__name__},
        ):
            grain = await self._grain(org_id, project_id)
            return await grain.submit(command, idempotency)

    async def get_task(self, org_id: UUID, project_id: UUID, task_id: UUID) -> dict[str, Any]:
        grain = await self._grain(org_id, project_id)
        return grain.get_task(task_id).as_json()

    async def list_tasks(
        self, org_id: UUID, project_id: UUID, query: TaskQuery
    ) -> tuple[list[dict[str, Any]], int | None]:
        grain = await self._grain(org_id, project_id)
        tasks, next_after = grain.list_tasks(query)
        return [t.as_json() for t in tasks], next_after

    async def get_task_json(
        self, org_id: UUID, project_id: UUID, task_id: UUID
    ) -> tuple[int, bytes]:
        """`get_task` as (version, encoded JSON): the API sends the bytes as they are.

        While the project's grain is not in memory yet, the task is read from the
        database as the grain activates behind it: the first read of a passivated
        project costs one row, not the load of every task. This stays linearizable:
        no write of the project can be acknowledged before its grain is active, and
        every acknowledged write is committed, so a read that finds the activation
        unfinished sees every write acknowledged before it started.
        """
        activation = self._activation(project_id)
        if not activation.done():
            async with self._store.engine.connect() as conn:
                task = await task_load.load_task(
                    conn, org_id=org_id, project_id=project_id, task_id=task_id
                )
            if task is not None:
                return task.version, orjson.dumps(task.as_json())
        # Missing (or created since): the grain answers, or says why not (404).
        grain = await self._grain(org_id, project_id)
        return grain.task_json(task_id)

    async def list_tasks_json(
        self, org_id: UUID, project_id: UUID, query: TaskQuery
    ) -> tuple[bytes, int | None]:
        """`list_tasks` with the page as one encoded JSON array."""
        grain = await self._grain(org_id, project_id)
        return grain.list_tasks_json(query)

    async def get_project(self, org_id: UUID, project_id: UUID) -> dict[str, Any]:
        grain = await self._grain(org_id, project_id)
        return grain.project.as_json()

    async def get_workflow(self, org_id: UUID, project_id: UUID) -> dict[str, Any]:
        grain = await self._grain(org_id, project_id)
        return grain.project.workflow.as_json()

    async def get_labels(self, org_id: UUID, project_id: UUID) -> dict[str, Any]:
        grain = await self._grain(org_id, project_id)
        return {"labels": grain.project.labels_json()}

    async def board_json(
        self, org_id: UUID, project_id: UUID, query: TaskQuery, per_column: int
    ) -> bytes:
        """The project's board (`actors.views.board`) as an encoded JSON document."""
        grain = await self._grain(org_id, project_id)
        return grain.board_json(query, per_column)

    async def task_transitions(
        self, org_id: UUID, project_id: UUID, task_id: UUID, role: str
    ) -> dict[str, Any]:
        grain = await self._grain(org_id, project_id)
        task = grain.get_task(task_id)
        return views.transitions_for(grain.project.workflow, task, grain.tasks, role)

    async def task_progress(self, org_id: UUID, project_id: UUID, task_id: UUID) -> dict[str, Any]:
        grain = await self._grain(org_id, project_id)
        task = grain.get_task(task_id)
        return views.progress_of(grain.project.workflow, task, grain.tasks)

    async def list_sprints(self, org_id: UUID, project_id: UUID) -> list[dict[str, Any]]:
        grain = await self._grain(org_id, project_id)
        sprints = sorted(grain.sprints.values(), key=lambda s: s.created_at)
        workflow = grain.project.workflow
        out = []
        for sprint in sprints:
            tasks = [t for t in grain.tasks.values() if t.sprint_id == sprint.id]
            out.append(
                {
                    **sprint.as_json(),
                    "task_count": len(tasks),
                    "done_count": sum(1 for t in tasks if workflow.is_done(t.status)),
                    "estimate_total": sum(t.estimate or 0.0 for t in tasks),
                }
            )
        return out

    def _refresh_metrics(self) -> None:
        done = [a for a in self._grains.values() if a.done() and not a.cancelled()]
        grains = [a.result() for a in done if a.exception() is None]
        depths = [g.queued for g in grains if g is not None]
        telemetry.ACTIVE_GRAINS.set(len(self._grains))
        telemetry.MAILBOX_DEPTH.set(sum(depths))
        telemetry.MAILBOX_DEPTH_MAX.set(max(depths, default=0))

    async def metrics(self) -> list[telemetry.Family]:
        """This host's metrics for `/metrics` (see `serve_app.metrics`)."""
        return telemetry.snapshot()

    async def stats(self) -> dict[str, Any]:
        """Diagnostics: process id, the grains this host holds, calls its channel ran."""
        return {
            "name": self.name,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id() if ray.is_initialized() else None,
            "grains": len(self._grains),
            "channel_calls": self._channel.calls,
        }

    # -- the replicas' channel ----------------------------------------------------

    async def channel_address(self) -> host_channel.Address:
        """Where this host's channel listens, and its token. Only Ray callers learn it."""
        return await self._channel.listen()

    async def _run_for_channel(
        self, method: str, context: tuple[str, str], args: tuple[Any, ...]
    ) -> Any:
        return await self.invoke(method, context, *args)

    async def close(self) -> None:
        """Passivate every grain and release connections (graceful shutdown)."""
        for task in (self._reaper, self._republisher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._channel.close()
        await self.passivate_all()
        await self._store.engine.dispose()
        if self._redis is not None:
            await self._redis.aclose()

    async def passivate_all(self) -> int:
        """Passivate every grain (used by tests and graceful shutdown)."""
        count = 0
        for project_id in list(self._grains):
            activation = self._grains.pop(project_id)
            with contextlib.suppress(Exception):
                grain = await activation
                if grain is not None:
                    await grain.passivate()
                    count += 1
        return count
