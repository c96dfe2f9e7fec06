"""How long the search shard waits before committing what changed.

A Tantivy commit costs about the same whatever it carries (the segment
finished, its files synced, `meta.json` rewritten, merges started in the
background, the searcher reloaded): about 15 ms of CPU at 100,000 documents on
this machine, most of it in Tantivy's own threads. Committing 50 ms after every
change kept a shard busy with commits under a steady trickle of writes. So
commits are spaced by `factor` times the last commit's duration, counted from
its end and at most `cap_s`; a change still waits at least `floor_s` (the
batching window). An idle shard commits a change 50 ms after it arrives; a busy
one spends at most about `1 / (factor + 1)` of its time committing, and a change
becomes searchable within `cap_s` plus two commits (the one it arrived during,
whose lock it waits for, and its own). Changes further apart than the spacing
are each committed after `floor_s`.

The duration is wall time, which includes waiting for the disk and, on a busy
machine, for a CPU: commits then get rarer, which is what a busy machine needs.
Thread CPU time would miss most of it, spent in Tantivy's threads; a commit's CPU
was measured at 1.2-1.5 times its wall time (merges go on after it returns)
(`python -m bench.search_commits`).

A commit costs about the same at 100,000 and at 1,000,000 documents, and about
the same whatever it carries, so under load fewer commits are the saving. With
100 task updates and 10 searches a second over a million documents
(`python -m bench.search_commits --tasks 1000000 --writes 100`), the index took
0.22-0.26 of a core with commits ten times their duration apart (at most 250
ms) and 0.13-0.16 with twenty times (at most 500 ms). A change is still
searchable within a second of its write (the relay's 0.1 s linger, the cap, and
two commits of about 30 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The shortest wait after a change: how fresh an idle shard is.
FLOOR_S = 0.05
#: The longest spacing, whatever commits cost: freshness stays under a second.
CAP_S = 0.5


@dataclass(frozen=True, slots=True)
class Cadence:
    floor_s: float = FLOOR_S
    #: Spacing commits this many durations apart bounds them to 1/(factor + 1) of the time.
    factor: float = 20.0
    cap_s: float = CAP_S

    def wait_s(self, last_commit_s: float, since_commit_s: float) -> float:
        """Seconds to wait before the next commit, once something changed:
        `last_commit_s` is how long the last commit took, `since_commit_s` how
        long ago it ended. Never less than `floor_s`."""
        spacing = min(self.cap_s, self.factor * last_commit_s)
        return max(self.floor_s, spacing - since_commit_s)
