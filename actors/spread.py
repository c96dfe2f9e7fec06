"""Which Ray node each project host runs on.

Hosts are spread round-robin over the *schedulable* nodes: alive, with CPUs (a
head node started with `num-cpus: 0` runs only the controllers and gets no
host), sorted by node id so every replica computes the same target for a host.

A host is created with a **soft** `NodeAffinitySchedulingStrategy` to its
target: Ray starts it there if its scheduler knows the node, and elsewhere if
the node is gone. So a host whose node dies restarts on another node (it is a
detached actor with unlimited restarts; its grains re-activate from PostgreSQL).

The soft fallback has a catch: the raylet that places an actor learns of a node
that just joined some time after the GCS lists it alive, and an actor placed in
that window silently falls back to another node. Placement is therefore checked
(`misplaced`): a host that runs off its target while the target is alive and
that holds no grain yet is stopped and created again (`actors.router.ensure_hosts`),
until it lands or the placement deadline passes. Stopping such a host is safe:
it owns nothing, and a call racing with the stop is retried by the router under
its idempotency key (epoch fencing keeps one writer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

#: How long `ensure_hosts` keeps correcting placement before accepting it as is.
PLACEMENT_DEADLINE_S = 30.0


def schedulable_nodes(nodes: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
    """Ids of the alive nodes with CPUs, sorted; every alive node when none has CPUs.

    `nodes` is `ray.nodes()` (read from the cluster when None).
    """
    listed = nodes if nodes is not None else ray.nodes()  # type: ignore[no-untyped-call]
    alive = [n for n in listed if n.get("Alive")]
    with_cpus = [n for n in alive if float(n.get("Resources", {}).get("CPU", 0)) > 0]
    return sorted(str(n["NodeID"]) for n in (with_cpus or alive))


def target_node(index: int, nodes: Sequence[str]) -> str | None:
    """The node host number `index` should run on (None: no node known yet)."""
    return nodes[index % len(nodes)] if nodes else None


def strategy(node: str | None) -> NodeAffinitySchedulingStrategy | str:
    """Soft affinity to `node`: there while it lives, elsewhere once it is gone."""
    if node is None:
        return "DEFAULT"
    return NodeAffinitySchedulingStrategy(node, soft=True)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a host runs (`node`) versus where it should (`target`)."""

    name: str
    node: str | None
    target: str | None
    grains: int

    def misplaced(self, alive: Sequence[str]) -> bool:
        """Off an alive target while owning nothing: safe and worth moving."""
        return (
            self.target is not None
            and self.node is not None
            and self.node != self.target
            and self.target in alive
            and self.grains == 0
        )


def spread_of(placements: Sequence[Placement]) -> dict[str, list[str]]:
    """Host names by node (for logs and diagnostics)."""
    out: dict[str, list[str]] = {}
    for p in placements:
        out.setdefault(p.node or "?", []).append(p.name)
    return out
