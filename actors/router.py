"""How a Serve replica reaches a project's grain.

`HostRouter.call` places the project on its host (rendezvous hashing), calls the
host, unwraps Ray's error wrapper so callers see the domain error, and retries
while the host is restarting or the grain is moving. Retrying is safe because
every write carries an idempotency key (the client's, or one the replica made):
a retried write that already committed returns its first reply. Calls go over
the host's channel (`storage.channel`) when it is up, and through Ray when
it is not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import ray
from ray.actor import ActorHandle
from ray.exceptions import ActorDiedError, RayActorError, RayError, RayTaskError

from actors.host import CHANNEL_METHODS, ProjectHost
from actors.placement import host_for, host_names
from actors.spread import (
    PLACEMENT_DEADLINE_S,
    PLACEMENT_MEMORY_BYTES,
    Placement,
    schedulable_nodes,
    spread_of,
    strategy,
    targets,
)
from domain.commands import IdempotencyKey
from domain.errors import Unavailable
from storage import channel as host_channel
from storage import tracing
from storage.breaker import DependencyUnavailable
from storage.telemetry import REQUEST_ID

log = logging.getLogger(__name__)

NAMESPACE = "taskhive"
RETRY_DEADLINE_S = 10.0
#: Projects whose host a router remembers (then it starts over).
OWNERS_CACHED = 100_000
_STUCK = (
    f"the project host did not answer within {host_channel.CALL_TIMEOUT_S:g} s; a write "
    "may or may not have been applied: send it again with the same Idempotency-Key"
)


@dataclass(frozen=True, slots=True)
class HostConfig:
    count: int
    database_url: str
    redis_url: str | None
    idle_seconds: float = 600.0
    pool_size: int = 10


def ensure_hosts(
    config: HostConfig, *, deadline_s: float = PLACEMENT_DEADLINE_S
) -> dict[str, ActorHandle[ProjectHost]]:
    """Get or create the named host actors, spread over the schedulable nodes.

    Safe to call from every replica at once (named actors, `get_if_exists`).
    Blocks until every host answered and sits on its target node (see
    `actors.spread`), or until `deadline_s` passed; then returns the handles as
    they are (a host off target still works, the spread is only less even).
    """
    names = host_names(config.count)
    planned = targets(names, schedulable_nodes())
    handles = {name: _create(name, config, planned[name]) for name in names}
    deadline = time.monotonic() + deadline_s
    delay = 0.25
    while True:
        placements = host_placements(handles, planned, max(1.0, deadline - time.monotonic()))
        alive = schedulable_nodes()
        wrong = [p for p in placements if p.misplaced(alive)]
        if not wrong:
            log.info("project hosts by node: %s", spread_of(placements))
            return handles
        if time.monotonic() + delay > deadline:
            log.warning("project hosts not spread as planned: %s", spread_of(placements))
            return handles
        # The target is alive but the host runs elsewhere (it was there before
        # the node joined): give the cluster a moment, then place it again.
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
        for p in wrong:
            handles[p.name] = move_host(handles[p.name], p.name, config, p.target, deadline)


def ensure_host(name: str, config: HostConfig) -> ActorHandle[ProjectHost]:
    """The host named `name`, created on its target node if it does not exist (any
    more: e.g. it was stopped to be placed again). Does not wait for it to start."""
    return _create(name, config, targets(host_names(config.count), schedulable_nodes())[name])


@functools.cache
def _remote_host() -> Any:
    return ray.remote(ProjectHost)


def _create(name: str, config: HostConfig, node: str | None) -> ActorHandle[ProjectHost]:
    handle: ActorHandle[ProjectHost] = (
        _remote_host()
        .options(
            name=name,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            max_concurrency=1000,
            num_cpus=0,
            memory=PLACEMENT_MEMORY_BYTES,
            scheduling_strategy=strategy(node),
        )
        .remote(
            name,
            config.database_url,
            config.redis_url,
            idle_seconds=config.idle_seconds,
            pool_size=config.pool_size,
        )
    )
    return handle


def host_placements(
    handles: dict[str, ActorHandle[ProjectHost]],
    planned: dict[str, str | None],
    timeout_s: float,
) -> list[Placement]:
    """Where each host runs versus its `planned` node; a host that did not answer
    within `timeout_s` (still starting, or unschedulable) counts as `node=None`,
    never as misplaced."""
    names = list(handles)
    refs: list[Any] = [handles[n].stats.remote() for n in names]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    answered = set(ready)
    out = []
    for name, ref in zip(names, refs, strict=True):
        node, grains = None, 0
        if ref in answered:
            try:
                stats: dict[str, Any] = ray.get(ref)
                node, grains = stats["node"], stats["grains"]
            except RayError:
                pass  # restarting: judged where it lands, by the next check
        out.append(Placement(name, node, planned.get(name), grains))
    return out


def move_host(
    old: ActorHandle[ProjectHost],
    name: str,
    config: HostConfig,
    node: str | None,
    deadline: float,
) -> ActorHandle[ProjectHost]:
    """Stop `old` for good and create `name` again on `node`. Another replica may
    have done the same meanwhile: then its new host is adopted as it is.

    The old host's grains are dropped with its process; the new host activates
    them from PostgreSQL on next use, each with a new epoch, so a commit the old
    process still had in flight is fenced if it did not land before. Calls that
    fail meanwhile are retried by `HostRouter.call` under their idempotency key."""
    old_id = old._actor_id.hex()
    ray.kill(old, no_restart=True)
    while time.monotonic() < deadline:
        try:
            current = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            break  # the name is free
        if current._actor_id.hex() != old_id:
            return current
        time.sleep(0.05)
    return _create(name, config, node)


class HostRouter:
    """Routes calls to project hosts. A host found dead for good (moved to another
    node, or lost with its restarts) is looked up again by name, and with `config`
    created anew if nobody did."""

    def __init__(
        self, handles: dict[str, ActorHandle[ProjectHost]], config: HostConfig | None = None
    ) -> None:
        self._handles = handles
        self._names = sorted(handles)
        self._owners: dict[UUID, str] = {}  # host_for's answers (a hash per host each)
        self._config = config
        self._channels = host_channel.Channels("project host")
        self._use_channels = host_channel.enabled()

    @property
    def handles(self) -> dict[str, ActorHandle[ProjectHost]]:
        """Every host by name (for calls to all of them, e.g. metrics)."""
        return dict(self._handles)

    def host_name(self, project_id: UUID) -> str:
        name = self._owners.get(project_id)
        if name is None:
            if len(self._owners) >= OWNERS_CACHED:
                self._owners.clear()
            name = self._owners[project_id] = host_for(project_id, self._names)
        return name

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
        if self._use_channels and method in CHANNEL_METHODS:
            name = self.host_name(project_id)
            handle = self._handles[name]
            # A lambda: binding an actor method builds an object, wasted once open.
            channel = await self._channels.get(name, lambda: handle.channel_address.remote())
            if channel is not None:
                # A failure here counts as an attempt: a write may have committed, so
                # the retry through Ray has the grain look its key up first.
                attempt = 1
                try:
                    return await channel.call(
                        method,
                        (REQUEST_ID.get(), tracing.traceparent()),
                        args,
                        host_channel.CALL_TIMEOUT_S,
                    )
                except host_channel.ChannelClosed:
                    pass  # through Ray below, which knows when the host is back
                except host_channel.CallTimedOut as exc:
                    raise Unavailable(_STUCK) from exc
                except Unavailable as exc:
                    if isinstance(exc, DependencyUnavailable):
                        raise
                    await asyncio.sleep(delay)  # e.g. the grain is moving
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
                # The host runs the call as the request that made it (logs, spans).
                handle = self.handle(project_id)
                rid, parent = REQUEST_ID.get(), tracing.traceparent()
                ref: Any
                if rid or parent:
                    ref = handle.invoke.remote(method, (rid, parent), *args)
                else:
                    ref = getattr(handle, method).remote(*args)
                try:
                    return await asyncio.wait_for(ref, host_channel.CALL_TIMEOUT_S)
                except TimeoutError as exc:
                    raise Unavailable(_STUCK) from exc
            except RayTaskError as exc:
                cause = exc.cause
                if not isinstance(cause, Unavailable) or isinstance(cause, DependencyUnavailable):
                    raise cause from None
                error: Exception = cause
            except RayActorError as exc:
                error = exc
                if isinstance(exc, ActorDiedError):
                    await self.refresh(self.host_name(project_id))
            if time.monotonic() + delay > deadline:
                raise Unavailable(f"project host is unavailable ({type(error).__name__})")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def refresh(self, name: str) -> None:
        """Adopt the actor now registered as `name` (or create it, with `config`):
        a handle to a host that died for good (moved to another node, or out of
        restarts) would fail forever. A host merely restarting is the same actor,
        so this changes nothing then."""
        try:
            if self._config is None:
                handle = await asyncio.to_thread(ray.get_actor, name, NAMESPACE)
            else:
                handle = await asyncio.to_thread(ensure_host, name, self._config)
            self._handles[name] = handle
        except (RayError, ValueError) as exc:
            log.warning("could not look up project host %s again: %s", name, exc)
        self._channels.drop(name)

    async def all_hosts(self, method: str, *args: Any) -> list[Any]:
        return list(
            await asyncio.gather(
                *(getattr(h, method).remote(*args) for h in self._handles.values())
            )
        )
