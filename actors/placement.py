"""Placement of projects on hosts by rendezvous (highest-random-weight) hashing.

Every caller computes the same owner from the project id and the list of host
names alone, so no lookup service is needed, and adding or removing a host moves
only the projects that hash to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from uuid import UUID


def host_names(count: int) -> list[str]:
    return [f"taskhive-host-{i}" for i in range(count)]


def _weight(project_id: UUID, host: str) -> int:
    digest = hashlib.blake2b(project_id.bytes + host.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def host_for(project_id: UUID, hosts: Sequence[str]) -> str:
    """The host owning `project_id`. Raises ValueError for an empty host list."""
    if not hosts:
        raise ValueError("no project hosts")
    return max(hosts, key=lambda h: _weight(project_id, h))
