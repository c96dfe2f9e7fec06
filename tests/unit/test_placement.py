"""Rendezvous placement of projects on hosts (`actors.placement`)."""

from __future__ import annotations

import random
from collections import Counter
from uuid import UUID

import pytest

from actors.placement import host_for, host_names

N_IDS = 2_000


def ids(n: int = N_IDS, seed: int = 1234) -> list[UUID]:
    rng = random.Random(seed)
    return [UUID(int=rng.getrandbits(128), version=4) for _ in range(n)]


IDS = ids()


def owners(hosts: list[str]) -> dict[UUID, str]:
    return {pid: host_for(pid, hosts) for pid in IDS}


def test_host_names() -> None:
    assert host_names(3) == ["taskhive-host-0", "taskhive-host-1", "taskhive-host-2"]
    assert host_names(0) == []


def test_empty_host_list_raises() -> None:
    with pytest.raises(ValueError, match="no project hosts"):
        host_for(IDS[0], [])


def test_single_host_owns_everything() -> None:
    assert set(owners(["only"]).values()) == {"only"}


def test_deterministic_and_independent_of_host_order() -> None:
    hosts = host_names(5)
    first = owners(hosts)
    assert owners(list(hosts)) == first
    assert owners(list(reversed(hosts))) == first
    shuffled = list(hosts)
    random.Random(7).shuffle(shuffled)
    assert owners(shuffled) == first


def test_owner_is_one_of_the_hosts() -> None:
    hosts = host_names(4)
    assert set(owners(hosts).values()) <= set(hosts)


@pytest.mark.parametrize("count", [2, 3, 5, 8])
def test_every_host_gets_a_roughly_even_share(count: int) -> None:
    hosts = host_names(count)
    shares = Counter(owners(hosts).values())
    assert set(shares) == set(hosts)
    fair = N_IDS / count
    for host in hosts:
        assert 0.75 * fair <= shares[host] <= 1.25 * fair, shares


@pytest.mark.parametrize("count", [1, 3, 6])
def test_adding_a_host_only_moves_projects_to_it(count: int) -> None:
    before = owners(host_names(count))
    grown = host_names(count + 1)
    new_host = grown[-1]
    after = owners(grown)
    moved = {pid for pid in IDS if before[pid] != after[pid]}
    assert moved, "the new host must take over some projects"
    assert {after[pid] for pid in moved} == {new_host}
    # and it takes roughly its fair share, not more
    assert len(moved) <= 1.25 * N_IDS / (count + 1)


@pytest.mark.parametrize("removed", [0, 2, 4])
def test_removing_a_host_only_moves_its_projects(removed: int) -> None:
    hosts = host_names(5)
    before = owners(hosts)
    gone = hosts[removed]
    after = owners([h for h in hosts if h != gone])
    for pid in IDS:
        if before[pid] == gone:
            assert after[pid] != gone
        else:
            assert after[pid] == before[pid]
    # the orphaned projects spread over the survivors rather than piling onto one
    orphans = Counter(after[pid] for pid in IDS if before[pid] == gone)
    assert len(orphans) == 4


def test_host_names_are_not_confused_by_shared_prefixes() -> None:
    # "h1" vs "h10": the hash input must still separate them
    hosts = [f"h{i}" for i in range(12)]
    shares = Counter(owners(hosts).values())
    assert set(shares) == set(hosts)


def test_a_router_remembers_owners_and_answers_as_host_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import actors.router as router_module

    monkeypatch.setattr(router_module, "OWNERS_CACHED", 50)
    names = host_names(3)
    router = router_module.HostRouter(dict.fromkeys(reversed(names)))  # type: ignore[arg-type]
    projects = ids(120, seed=7)
    for _ in range(2):  # the second pass answers from memory, past the bound too
        assert [router.host_name(p) for p in projects] == [host_for(p, names) for p in projects]
