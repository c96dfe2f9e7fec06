"""Which node each project host should run on (`actors.spread`)."""

from __future__ import annotations

from typing import Any

from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.spread import Placement, schedulable_nodes, spread_of, strategy, target_node


def node(node_id: str, *, alive: bool = True, cpus: float = 4.0) -> dict[str, Any]:
    resources = {"CPU": cpus, "memory": 1e9} if cpus else {"memory": 1e9}
    return {"NodeID": node_id, "Alive": alive, "Resources": resources}


def test_alive_nodes_with_cpus_sorted_by_id() -> None:
    listed = [node("c"), node("a"), node("dead", alive=False), node("head", cpus=0), node("b")]
    assert schedulable_nodes(listed) == ["a", "b", "c"]


def test_a_cluster_of_cpu_less_nodes_still_gets_hosts() -> None:
    assert schedulable_nodes([node("x", cpus=0), node("y", cpus=0)]) == ["x", "y"]
    assert schedulable_nodes([]) == []


def test_hosts_go_round_robin_and_every_caller_agrees() -> None:
    nodes = ["a", "b"]
    assert [target_node(i, nodes) for i in range(5)] == ["a", "b", "a", "b", "a"]
    assert target_node(0, []) is None


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


def test_spread_lists_hosts_by_node() -> None:
    placements = [
        Placement("h0", node="a", target="a", grains=0),
        Placement("h1", node="a", target="b", grains=0),
        Placement("h2", node=None, target="a", grains=0),
    ]
    assert spread_of(placements) == {"a": ["h0", "h1"], "?": ["h2"]}
