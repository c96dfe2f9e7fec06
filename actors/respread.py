"""The re-spread chore: keeps project hosts on their target nodes as nodes come and go.

`ensure_hosts` places hosts when a replica starts, and moves only idle ones. Two
cases need more: a node that joins a running cluster (the hosts already exist,
busy, elsewhere), and a node lost and replaced (Ray restarted its hosts on the
surviving nodes, where they would otherwise stay for good). This chore runs in
the outbox relay's actor, one per deployment, so that moves are decided in one
place, and every `interval_s`:

1. reads the schedulable nodes; while they keep changing (a cluster scaling up
   adds nodes one by one) it waits until they have been the same for `settle_s`;
2. compares each host's node with its target (`actors.spread.targets`) and moves
   a host that is off an alive target, busy or not (`actors.router.move_host`):
   at most `moves_per_pass` per pass, so a join never restarts every host at once.
   A host that lands off target again (the node could not take it) is tried
   again after a pause that doubles each time, up to `MAX_RETRY_PAUSE_S`, so a
   node that cannot take hosts does not restart one every few seconds.

Moving a busy host drops its grains; they re-activate on the new host from
PostgreSQL with new epochs, so the old process, were it still running, could not
commit again (one writer per project), and writes in flight are retried by the
callers' routers under their idempotency keys: nothing acknowledged is lost,
nothing is applied twice. The cost is a short pause for that host's projects
(the new host starts and loads their state).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import ray
from ray.actor import ActorHandle
from sqlalchemy.ext.asyncio import AsyncEngine

from actors.host import ProjectHost
from actors.placement import host_names
from actors.router import NAMESPACE, HostConfig, host_placements, move_host
from actors.spread import Placement, schedulable_nodes, spread_of, targets

log = logging.getLogger(__name__)

#: How long a pass waits for the hosts to say where they run.
STATS_TIMEOUT_S = 5.0
#: How long a move may wait for the old host's name to be free.
MOVE_DEADLINE_S = 10.0
#: The longest pause before moving a host again that landed off target.
MAX_RETRY_PAUSE_S = 300.0


@dataclass(frozen=True, slots=True)
class RespreadConfig:
    """Picklable factory of the chore, handed to the outbox relay actor. `hosts`
    must equal the replicas' (hosts are created with it)."""

    hosts: HostConfig
    interval_s: float = 5.0
    settle_s: float = 10.0
    moves_per_pass: int = 1

    def __call__(self, engine: AsyncEngine) -> Respreader:
        return Respreader(self)


class Respreader:
    """Moves hosts that run off their target node. See the module docstring."""

    def __init__(self, config: RespreadConfig) -> None:
        self._config = config
        self._nodes: list[str] | None = None
        self._stable_since = 0.0
        # Per host moved: (the pause before it may be moved again, not before when).
        self._retry: dict[str, tuple[float, float]] = {}

    async def run(self) -> None:
        """Forever: one pass (in a thread: Ray's calls here block), then wait."""
        while True:
            try:
                await asyncio.to_thread(self.once)
            except Exception:
                log.exception("re-spreading project hosts failed; the next pass retries")
            await asyncio.sleep(self._config.interval_s)

    def once(self) -> list[str]:
        """One pass; returns the names of the hosts it moved. Blocks."""
        nodes = schedulable_nodes()
        now = time.monotonic()
        if not self.settled(nodes, now):
            return []
        names = host_names(self._config.hosts.count)
        handles = self._existing(names)
        placements = host_placements(handles, targets(names, nodes), STATS_TIMEOUT_S)
        moved = []
        for p in self.choose(placements, nodes, now):
            log.info(
                "moving project host %s (%d grains) from node %s to %s; hosts by node: %s",
                p.name,
                p.grains,
                p.node,
                p.target,
                spread_of(placements),
            )
            deadline = time.monotonic() + MOVE_DEADLINE_S
            move_host(handles[p.name], p.name, self._config.hosts, p.target, deadline)
            moved.append(p.name)
        return moved

    def settled(self, nodes: list[str], now: float) -> bool:
        """Whether `nodes` (seen at `now`) have not changed for `settle_s`."""
        if nodes != self._nodes:
            self._nodes, self._stable_since = nodes, now
        return now - self._stable_since >= self._config.settle_s

    def choose(self, placements: list[Placement], nodes: list[str], now: float) -> list[Placement]:
        """The hosts to move now (and remembers when each may be moved again)."""
        for p in placements:
            if p.node is not None and p.node == p.target:
                self._retry.pop(p.name, None)  # arrived: a later move starts afresh
        due = [
            p
            for p in placements
            if p.misplaced(nodes, busy_too=True) and self._retry.get(p.name, (0.0, 0.0))[1] <= now
        ][: self._config.moves_per_pass]
        for p in due:
            first = max(self._config.interval_s, self._config.settle_s / 2)
            pause = self._retry.get(p.name, (first, 0.0))[0]
            self._retry[p.name] = (min(pause * 2, MAX_RETRY_PAUSE_S), now + pause)
        return due

    @staticmethod
    def _existing(names: list[str]) -> dict[str, ActorHandle[ProjectHost]]:
        """The hosts that exist now; one missing is not started yet or is being
        moved, and whoever needs it creates it on its target (`ensure_host`)."""
        out: dict[str, ActorHandle[ProjectHost]] = {}
        for name in names:
            try:
                out[name] = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:
                continue
        return out
