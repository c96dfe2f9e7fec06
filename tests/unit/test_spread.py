"""Which node each project host should run on (`actors.spread`), and which hosts
the re-spread chore moves (`actors.respread`)."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from typing import Any

import pytest
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.placement import host_names
from actors.respread import MAX_RETRY_PAUSE_S, RespreadConfig, Respreader
from actors.router import HostConfig
from actors.spread import Placement, schedulable_nodes, spread_of, strategy, targets


def node(node_id: str, *, alive: bool = True, cpus: float = 4.0) -> dict[str, Any]:
    resources = {"CPU": cpus, "memory": 1e9} if cpus else {"memory": 1e9}
    return {"NodeID": node_id, "Alive": alive, "Resources": resources}


def test_alive_nodes_with_cpus_sorted_by_id() -> None:
    listed = [node("c"), node("a"), node("dead", alive=False), node("head", cpus=0), node("b")]
    assert schedulable_nodes(listed) == ["a", "b", "c"]


def test_a_cluster_of_cpu_less_nodes_still_gets_hosts() -> None:
    assert schedulable_nodes([node("x", cpus=0), node("y", cpus=0)]) == ["x", "y"]
    assert schedulable_nodes([]) == []


def _node_ids(count: int, rng: random.Random) -> list[str]:
    return [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(count)]


@pytest.mark.parametrize("hosts", [1, 2, 3, 16, 48])
@pytest.mark.parametrize("nodes", [1, 2, 3, 5, 9])
def test_targets_are_even_and_every_caller_agrees(hosts: int, nodes: int) -> None:
    rng = random.Random(hosts * 100 + nodes)
    names, node_ids = host_names(hosts), _node_ids(nodes, rng)
    planned = targets(names, node_ids)
    assert set(planned) == set(names) and set(planned.values()) <= set(node_ids)
    load = Counter(planned.values())
    base = hosts // nodes
    assert all(base <= load[n] <= base + 1 for n in node_ids)
    shuffled = node_ids[:]
    rng.shuffle(shuffled)
    assert targets(names, shuffled) == planned  # the node list's order does not matter


def test_two_hosts_on_two_nodes_always_use_both() -> None:
    rng = random.Random(7)
    for _ in range(200):
        assert len(set(targets(host_names(2), _node_ids(2, rng)).values())) == 2


def test_no_node_no_target() -> None:
    assert targets(host_names(2), []) == {"taskhive-host-0": None, "taskhive-host-1": None}


@pytest.mark.parametrize(("hosts", "nodes"), [(2, 1), (4, 2), (16, 3), (16, 6), (48, 6)])
def test_a_joining_node_moves_few_hosts(hosts: int, nodes: int) -> None:
    """Close to the fewest moves an even spread needs (what the new node must take),
    where a round robin over the sorted node ids moves most hosts."""
    rng = random.Random(hosts + nodes)
    names = host_names(hosts)
    moves = 0
    for _ in range(50):
        before = _node_ids(nodes, rng)
        after = [*before, *_node_ids(1, rng)]
        a, b = targets(names, before), targets(names, after)
        moves += sum(a[n] != b[n] for n in names)
    needed = hosts // (nodes + 1)
    assert moves / 50 <= needed * 1.6 + 1


def test_a_leaving_node_mostly_moves_its_own_hosts() -> None:
    rng = random.Random(3)
    names = host_names(16)
    extra = 0
    for _ in range(50):
        nodes = _node_ids(4, rng)
        a = targets(names, nodes)
        b = targets(names, nodes[1:])
        extra += sum(a[n] != b[n] and a[n] != nodes[0] for n in names)
    assert extra / 50 <= 2  # of 16 hosts, 4 of which had to move


def test_soft_affinity_to_the_target() -> None:
    node_id = "ab" * 28  # Ray node ids are 28 bytes in hex
    chosen = strategy(node_id)
    assert isinstance(chosen, NodeAffinitySchedulingStrategy)
    assert (chosen.node_id, chosen.soft) == (node_id, True)
    assert strategy(None) == "DEFAULT"


def test_only_an_idle_host_off_an_alive_target_is_moved() -> None:
    alive = ["a", "b"]
    assert Placement("h1", node="a", target="b", grains=0).misplaced(alive)
    assert not Placement("h1", node="b", target="b", grains=0).misplaced(alive)  # on target
    assert not Placement("h1", node="a", target="b", grains=3).misplaced(alive)  # busy
    assert not Placement("h1", node="a", target="c", grains=0).misplaced(alive)  # target gone
    assert not Placement("h1", node=None, target="b", grains=0).misplaced(alive)  # no answer
    assert not Placement("h1", node="a", target=None, grains=0).misplaced(alive)


def test_the_re_spread_moves_busy_hosts_too() -> None:
    alive = ["a", "b"]
    assert Placement("h1", node="a", target="b", grains=3).misplaced(alive, busy_too=True)
    assert not Placement("h1", node="b", target="b", grains=3).misplaced(alive, busy_too=True)
    assert not Placement("h1", node="a", target="c", grains=3).misplaced(alive, busy_too=True)
    assert not Placement("h1", node=None, target="b", grains=3).misplaced(alive, busy_too=True)


def _respreader(**options: Any) -> Respreader:
    hosts = HostConfig(count=4, database_url="postgresql://unused", redis_url=None)
    return Respreader(RespreadConfig(hosts, **options))


def test_the_re_spread_waits_until_the_nodes_stop_changing() -> None:
    chore = _respreader(settle_s=10.0)
    assert not chore.settled(["a"], now=100.0)
    assert not chore.settled(["a"], now=105.0)
    assert not chore.settled(["a", "b"], now=109.0)  # a node joined: wait again
    assert not chore.settled(["a", "b"], now=118.0)
    assert chore.settled(["a", "b"], now=119.0)
    assert not chore.settled(["b"], now=120.0)  # and one left


def test_the_re_spread_moves_a_few_hosts_per_pass() -> None:
    chore = _respreader(moves_per_pass=1)
    off = [Placement(f"h{i}", node="a", target="b", grains=i) for i in range(3)]
    on = Placement("h3", node="b", target="b", grains=5)
    assert [p.name for p in chore.choose([*off, on], ["a", "b"], now=0.0)] == ["h0"]
    assert [p.name for p in chore.choose([*off, on], ["a", "b"], now=1.0)] == ["h1"]


def test_a_host_that_lands_off_target_again_is_retried_ever_later() -> None:
    chore = _respreader(interval_s=1.0, settle_s=10.0, moves_per_pass=4)
    stuck = Placement("h0", node="a", target="b", grains=2)
    moves = [t for t in range(0, 2000) if chore.choose([stuck], ["a", "b"], now=float(t))]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moves)]
    assert gaps[:4] == [5, 10, 20, 40]
    assert max(gaps) == MAX_RETRY_PAUSE_S
    # once it arrives, a later move starts with the short pause again
    chore.choose([Placement("h0", node="b", target="b", grains=2)], ["a", "b"], now=3000.0)
    assert chore.choose([stuck], ["a", "b"], now=3001.0)
    assert not chore.choose([stuck], ["a", "b"], now=3005.0)
    assert chore.choose([stuck], ["a", "b"], now=3006.0)


def test_spread_lists_hosts_by_node() -> None:
    placements = [
        Placement("h0", node="a", target="a", grains=0),
        Placement("h1", node="a", target="b", grains=0),
        Placement("h2", node=None, target="a", grains=0),
    ]
    assert spread_of(placements) == {"a": ["h0", "h1"], "?": ["h2"]}
