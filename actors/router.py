"""How a Serve replica reaches a project's grain.

`HostRouter.call` places the project on its host (rendezvous hashing), calls the
host, unwraps Ray's error wrapper so callers see the domain error, and retries
while the host is restarting or the grain is moving. Retrying is safe because
every write carries an idempotency key (the client's, or one the replica made):
a retried write that already committed returns its first reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.host import ProjectHost
from actors.placement import host_for, host_names
from domain.commands import IdempotencyKey
from domain.errors import Unavailable
from storage.breaker import DependencyUnavailable
from storage.telemetry import REQUEST_ID

NAMESPACE = "taskhive"
RETRY_DEADLINE_S = 10.0


@dataclass(frozen=True, slots=True)
class HostConfig:
    count: int
    database_url: str
    redis_url: str | None
    idle_seconds: float = 600.0
    pool_size: int = 10


def ensure_hosts(config: HostConfig) -> dict[str, ActorHandle[ProjectHost]]:
    """Get or create the named host actors. Safe to call from every replica at once."""
    remote = ray.remote(ProjectHost)
    handles: dict[str, ActorHandle[ProjectHost]] = {}
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])  # type: ignore[no-untyped-call]
    for index, name in enumerate(host_names(config.count)):
        # Round-robin over the nodes alive now; soft, so a host whose node is lost
        # restarts on another one.
        spread = NodeAffinitySchedulingStrategy(nodes[index % len(nodes)], soft=True)
        handles[name] = remote.options(  # type: ignore[assignment]
            name=name,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            max_concurrency=1000,
            num_cpus=0,
            scheduling_strategy=spread,
        ).remote(
            name,
            config.database_url,
            config.redis_url,
            idle_seconds=config.idle_seconds,
            pool_size=config.pool_size,
        )
    return handles


class HostRouter:
    def __init__(self, handles: dict[str, ActorHandle[ProjectHost]]) -> None:
        self._handles = handles
        self._names = sorted(handles)

    @property
    def handles(self) -> dict[str, ActorHandle[ProjectHost]]:
        """Every host by name (for calls to all of them, e.g. metrics)."""
        return dict(self._handles)

    def host_name(self, project_id: UUID) -> str:
        return host_for(project_id, self._names)

    def handle(self, project_id: UUID) -> ActorHandle[ProjectHost]:
        return self._handles[self.host_name(project_id)]

    async def call(self, project_id: UUID, method: str, *args: Any) -> Any:
        """Call `method` on the project's host; retry while it is unavailable.

        Raises the domain error the host raised, or `Unavailable` when the host
        did not come back within the retry deadline.
        """
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = 0.05
        attempt = 0
        while True:
            if attempt:
                # The previous attempt may have committed: let the grain look the key up.
                args = tuple(
                    dataclasses.replace(a, first_attempt=False)
                    if isinstance(a, IdempotencyKey)
                    else a
                    for a in args
                )
            attempt += 1
            try:
                # The request id names the Ray task: `ray list tasks` ties it to the request.
                remote = getattr(self.handle(project_id), method)
                if rid := REQUEST_ID.get():
                    remote = remote.options(name=f"{method} {rid}")
                return await remote.remote(*args)
            except RayTaskError as exc:
                cause = exc.cause
                if not isinstance(cause, Unavailable) or isinstance(cause, DependencyUnavailable):
                    raise cause from None
                error: Exception = cause
            except RayActorError as exc:
                error = exc
            if time.monotonic() + delay > deadline:
                raise Unavailable(f"project host is unavailable ({type(error).__name__})")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def all_hosts(self, method: str, *args: Any) -> list[Any]:
        return list(
            await asyncio.gather(
                *(getattr(h, method).remote(*args) for h in self._handles.values())
            )
        )
