"""A checker for histories of versioned reads and writes (linearizability, bounded).

A history is what concurrent clients observed: each operation has the client that
issued it, the key (a task id) it touched, when it started and ended (one
monotonic clock), and the version and value it returned. Writes are the
acknowledged ones only: a write that failed or timed out is unknown, and leaves
no obligation. For a register whose every write bumps a version, the history is
consistent with a linearizable execution when:

1. no stale read: a read returns a version at least as new as every write to the
   same key acknowledged before the read started (real-time order);
2. reads match writes: a read that returns version v returns the value the write
   acknowledged with version v wrote (when that write is in the history);
3. no two acknowledged writes to one key got the same version;
4. monotonic per client: the versions one client observes for a key (its reads
   and its writes, in the order it issued them) never go backwards;
5. nothing lost: the final state of each key is at least as new as every
   acknowledged write to it, and carries that write's value when it is the
   newest.

`violations(history, final)` lists what breaks these (empty when none does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Op:
    client: str
    kind: Literal["read", "write"]
    key: str
    start: float
    end: float
    version: int
    value: str


def violations(history: Iterable[Op], final: Mapping[str, tuple[int, str]]) -> list[str]:
    """Everything in `history` (and the `final` (version, value) per key) that no
    linearizable execution would show; empty when the history is consistent."""
    ops = sorted(history, key=lambda o: o.start)
    found: list[str] = []
    writes: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind == "write":
            writes[op.key].append(op)
    written: dict[tuple[str, int], Op] = {}
    for key, ws in writes.items():
        for w in ws:
            other = written.setdefault((key, w.version), w)
            if other is not w:
                found.append(
                    f"two writes to {key} acknowledged version {w.version}: {other} and {w}"
                )
    for key, ws in writes.items():
        by_end = sorted(ws, key=lambda w: w.end)
        for r in (o for o in ops if o.kind == "read" and o.key == key):
            done = [w for w in by_end if w.end < r.start]
            if done:
                newest = max(done, key=lambda w: w.version)
                if r.version < newest.version:
                    found.append(
                        f"stale read of {key}: {r.client} read v{r.version} at {r.start:.6f} "
                        f"after v{newest.version} was acknowledged at {newest.end:.6f}"
                    )
    for r in (o for o in ops if o.kind == "read"):
        source = written.get((r.key, r.version))
        if source is not None and source.value != r.value:
            found.append(
                f"{r.client} read v{r.version} of {r.key} as {r.value!r}, "
                f"written as {source.value!r}"
            )
    seen: dict[tuple[str, str], Op] = {}
    for op in ops:  # each client issues its operations one after another
        last = seen.get((op.client, op.key))
        if last is not None and op.version < last.version:
            found.append(f"{op.client} saw {op.key} go back from v{last.version} to v{op.version}")
        if last is None or op.version >= last.version:
            seen[(op.client, op.key)] = op
    for key, ws in writes.items():
        newest = max(ws, key=lambda w: w.version)
        version, value = final.get(key, (-1, ""))
        if version < newest.version:
            found.append(
                f"lost write: {key} ends at v{version}, v{newest.version} was acknowledged"
            )
        elif version == newest.version and value != newest.value:
            found.append(f"{key} ends at v{version} as {value!r}, written as {newest.value!r}")
    return found
