"""Which Ray node each project host runs on.

Targets are computed from the host names and the *schedulable* nodes alone (alive,
with CPUs: a head node started with `num-cpus: 0` runs only the controllers and
gets no host), so every replica and the re-spread chore agree without talking:
rendezvous hashing with bounded loads (`targets`). Each host ranks the nodes by a
hash of (host, node) and takes the best one that still has room, where room is
an even share (every node ends up with ⌊hosts/nodes⌋ or one more). A node that
joins or leaves therefore moves few hosts, close to the minimum an even spread
needs, where a round robin over the sorted node ids would move most of them.

A host is created with a **soft** `NodeAffinitySchedulingStrategy` to its
target: Ray starts it there while the node lives, and elsewhere once it is gone.
So a host whose node dies restarts on another node (it is a detached actor with
unlimited restarts; its grains re-activate from PostgreSQL).

Ray honours a soft affinity only for an actor that asks for some resource: one
that asks for none (`num_cpus=0` and nothing else) is placed on a *random* node
whatever its strategy says, unless the affinity is hard. A host therefore asks
for `PLACEMENT_MEMORY_BYTES` of the `memory` resource, which every node has: a
token amount that reserves nothing that matters and puts the host on its target.

A host that Ray restarted after its node died stays wherever it restarted, and
a node that joins gets no host by itself. Placement is therefore checked
(`Placement.misplaced`) in two places: when a replica starts, an idle host off an
alive target is created again (`actors.router.ensure_hosts`); and the re-spread
chore (`actors.respread`) moves busy hosts too, once the set of nodes has stopped
changing. Moving is safe: a call racing with the stop is retried by the router
under its idempotency key, and epoch fencing keeps one writer per project.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

#: How long `ensure_hosts` keeps correcting placement before accepting it as is.
PLACEMENT_DEADLINE_S = 30.0

#: The `memory` a host asks Ray for: any request at all makes Ray apply the soft
#: node affinity, which it ignores for an actor asking for nothing (see above).
PLACEMENT_MEMORY_BYTES = 1 << 20


def schedulable_nodes(nodes: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
    """Ids of the alive nodes with CPUs, sorted; every alive node when none has CPUs.

    `nodes` is `ray.nodes()` (read from the cluster when None).
    """
    listed = nodes if nodes is not None else ray.nodes()  # type: ignore[no-untyped-call]
    alive = [n for n in listed if n.get("Alive")]
    with_cpus = [n for n in alive if float(n.get("Resources", {}).get("CPU", 0)) > 0]
    return sorted(str(n["NodeID"]) for n in (with_cpus or alive))


def _weight(host: str, node: str) -> int:
    digest = hashlib.blake2b(f"{host}|{node}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def targets(names: Sequence[str], nodes: Sequence[str]) -> dict[str, str | None]:
    """The node each host should run on (None: no node known yet).

    Hosts are taken in the order of `names`; each goes to its highest-ranked node
    with room. Room: fewer than ⌊hosts/nodes⌋ hosts, or exactly that many while
    fewer than `hosts mod nodes` nodes hold one more. Deterministic for the same
    names and the same *set* of nodes.
    """
    if not nodes:
        return dict.fromkeys(names)
    ordered = sorted(set(nodes))
    base, extra = divmod(len(names), len(ordered))
    load = dict.fromkeys(ordered, 0)
    above_base = 0
    out: dict[str, str | None] = {}
    for name in names:
        for node in sorted(ordered, key=lambda n: (_weight(name, n), n), reverse=True):
            if load[node] < base or (load[node] == base and above_base < extra):
                if load[node] == base:
                    above_base += 1
                load[node] += 1
                out[name] = node
                break
    return out


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

    def misplaced(self, alive: Sequence[str], *, busy_too: bool = False) -> bool:
        """Off an alive target: worth moving. Only while it owns nothing unless
        `busy_too` (the re-spread: its grains re-activate on the new host)."""
        return (
            self.target is not None
            and self.node is not None
            and self.node != self.target
            and self.target in alive
            and (busy_too or self.grains == 0)
        )


def spread_of(placements: Sequence[Placement]) -> dict[str, list[str]]:
    """Host names by node (for logs and diagnostics)."""
    out: dict[str, list[str]] = {}
    for p in placements:
        out.setdefault(p.node or "?", []).append(p.name)
    return out
