"""The workflow engine: a project's statuses, its transitions, and the decision
whether a task may move from one status to another.

Table-driven and pure: a `Workflow` is data (ordered statuses, transitions with
roles and conditions); `check_transition` answers for one move given the facts
about the task and the caller (`TransitionFacts`). The grain calls it for every
status change, whatever the endpoint.

A workflow is valid when (`parse_workflow` enforces it):
- status ids are unique slugs, names unique, every category has at least one status;
- transitions name existing statuses (or `*` as their origin: any status);
- every status is reachable from the first (the initial status of new tasks),
  so no status is an orphan, and hence every category is reachable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.errors import InvalidInput, TransitionForbidden, WipLimitExceeded

ANY = "*"
STATUS_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
NAME_MAX = 64
MAX_STATUSES = 50
MAX_TRANSITIONS = 500

#: Organisation roles a transition may be restricted to (empty: anyone).
ROLES = frozenset({"owner", "admin", "member", "guest"})


class Category(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Condition(StrEnum):
    """What must hold of the task for a transition to be taken."""

    ASSIGNEE_SET = "assignee_set"
    ESTIMATE_SET = "estimate_set"
    SUBTASKS_DONE = "subtasks_done"


_CONDITION_TEXT = {
    Condition.ASSIGNEE_SET: "the task has no assignee",
    Condition.ESTIMATE_SET: "the task has no estimate",
    Condition.SUBTASKS_DONE: "not all subtasks are done",
}


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: Category
    color: str
    wip_limit: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category.value,
            "color": self.color,
            "wip_limit": self.wip_limit,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    source: str  # a status id, or ANY
    target: str
    name: str | None = None
    roles: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "name": self.name,
            "roles": list(self.roles),
            "conditions": [c.value for c in self.conditions],
        }


@dataclass(frozen=True, slots=True)
class TransitionFacts:
    """What the engine needs to know about the task and the caller for one move."""

    role: str
    assignee_set: bool
    estimate_set: bool
    subtasks_done: bool

    def holds(self, condition: Condition) -> bool:
        match condition:
            case Condition.ASSIGNEE_SET:
                return self.assignee_set
            case Condition.ESTIMATE_SET:
                return self.estimate_set
            case Condition.SUBTASKS_DONE:
                return self.subtasks_done


@dataclass(frozen=True, slots=True)
class Workflow:
    version: int
    statuses: tuple[Status, ...]
    transitions: tuple[Transition, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.statuses)

    @property
    def initial(self) -> str:
        return self.statuses[0].id

    def status(self, status_id: str) -> Status | None:
        for s in self.statuses:
            if s.id == status_id:
                return s
        return None

    def category_of(self, status_id: str) -> Category | None:
        s = self.status(status_id)
        return None if s is None else s.category

    def in_category(self, category: str) -> frozenset[str]:
        return frozenset(s.id for s in self.statuses if s.category == category)

    def is_done(self, status_id: str) -> bool:
        return self.category_of(status_id) is Category.DONE

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "statuses": [s.as_json() for s in self.statuses],
            "transitions": [t.as_json() for t in self.transitions],
        }


# -- validation --------------------------------------------------------------------


def _bad(msg: str) -> InvalidInput:
    return InvalidInput.field("workflow", msg)


def _parse_status(raw: Any, index: int) -> Status:
    if not isinstance(raw, Mapping):
        raise _bad(f"statuses[{index}] must be an object")
    unknown = sorted(set(raw) - {"id", "name", "category", "color", "wip_limit"})
    if unknown:
        raise _bad(f"statuses[{index}] has unknown field {unknown[0]!r}")
    sid, name = raw.get("id"), raw.get("name")
    if not isinstance(sid, str) or not STATUS_ID.fullmatch(sid):
        raise _bad(f"statuses[{index}].id must be a slug like 'in_review'")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise _bad(f"statuses[{index}].name must be 1 to {NAME_MAX} characters")
    try:
        category = Category(str(raw.get("category")))
    except ValueError:
        raise _bad(f"statuses[{index}].category must be todo, in_progress or done") from None
    color = raw.get("color", "#8a8f98")
    if not isinstance(color, str) or not COLOR.fullmatch(color):
        raise _bad(f"statuses[{index}].color must be like #1f6feb")
    wip = raw.get("wip_limit")
    if wip is not None and (isinstance(wip, bool) or not isinstance(wip, int) or wip < 1):
        raise _bad(f"statuses[{index}].wip_limit must be a positive integer or null")
    return Status(sid, name.strip(), category, color.lower(), wip)


def _parse_transition(raw: Any, index: int, ids: frozenset[str]) -> Transition:
    if not isinstance(raw, Mapping):
        raise _bad(f"transitions[{index}] must be an object")
    unknown = sorted(set(raw) - {"from", "to", "name", "roles", "conditions"})
    if unknown:
        raise _bad(f"transitions[{index}] has unknown field {unknown[0]!r}")
    source, target = raw.get("from"), raw.get("to")
    if source != ANY and source not in ids:
        raise _bad(f"transitions[{index}].from names no status: {source!r}")
    if target not in ids:
        raise _bad(f"transitions[{index}].to names no status: {target!r}")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > NAME_MAX):
        raise _bad(f"transitions[{index}].name must be a string of at most {NAME_MAX}")
    roles = raw.get("roles") or []
    if not isinstance(roles, list) or not set(roles) <= ROLES:
        raise _bad(f"transitions[{index}].roles must be a list of: {', '.join(sorted(ROLES))}")
    conditions = raw.get("conditions") or []
    allowed = ", ".join(c.value for c in Condition)
    if not isinstance(conditions, list):
        raise _bad(f"transitions[{index}].conditions must be a list of: {allowed}")
    try:
        parsed = tuple(dict.fromkeys(Condition(c) for c in conditions))
    except ValueError:
        raise _bad(f"transitions[{index}].conditions must be a list of: {allowed}") from None
    return Transition(str(source), str(target), name, tuple(sorted(set(roles))), parsed)


def parse_workflow(data: Mapping[str, Any], *, version: int) -> Workflow:
    """Validate a whole workflow (as `Workflow.as_json` writes it) or raise `InvalidInput`."""
    statuses_raw, transitions_raw = data.get("statuses"), data.get("transitions")
    if not isinstance(statuses_raw, list) or not 1 <= len(statuses_raw) <= MAX_STATUSES:
        raise _bad(f"statuses must be a list of 1 to {MAX_STATUSES} statuses")
    if not isinstance(transitions_raw, list) or len(transitions_raw) > MAX_TRANSITIONS:
        raise _bad(f"transitions must be a list of at most {MAX_TRANSITIONS}")
    statuses = tuple(_parse_status(s, i) for i, s in enumerate(statuses_raw))
    ids = [s.id for s in statuses]
    if len(set(ids)) != len(ids):
        raise _bad("status ids must be unique")
    if len({s.name.lower() for s in statuses}) != len(statuses):
        raise _bad("status names must be unique")
    missing = [c.value for c in Category if not any(s.category is c for s in statuses)]
    if missing:
        raise _bad(f"no status in category {missing[0]}")
    known = frozenset(ids)
    transitions = tuple(_parse_transition(t, i, known) for i, t in enumerate(transitions_raw))
    pairs = [(t.source, t.target) for t in transitions]
    if len(set(pairs)) != len(pairs):
        raise _bad("a transition is listed twice")
    workflow = Workflow(version, statuses, transitions)
    orphans = [sid for sid in ids if sid not in reachable(workflow)]
    if orphans:
        raise _bad(f"status {orphans[0]!r} cannot be reached from {ids[0]!r}")
    return workflow


def reachable(workflow: Workflow) -> frozenset[str]:
    """Statuses a new task can reach through transitions, ignoring roles and conditions."""
    seen = {workflow.initial}
    frontier = [workflow.initial]
    while frontier:
        current = frontier.pop()
        for t in workflow.transitions:
            if t.source in (current, ANY) and t.target not in seen:
                seen.add(t.target)
                frontier.append(t.target)
    return frozenset(seen)


# -- the engine --------------------------------------------------------------------


def transitions_from(workflow: Workflow, source: str) -> list[Transition]:
    """Transitions leaving `source` (explicit ones first), one per target, no self-loops."""
    found: dict[str, Transition] = {}
    for t in sorted(workflow.transitions, key=lambda t: t.source == ANY):
        if t.source in (source, ANY) and t.target != source and t.target not in found:
            found[t.target] = t
    order = {sid: i for i, sid in enumerate(workflow.ids)}
    return sorted(found.values(), key=lambda t: order[t.target])


def blockers(transition: Transition, facts: TransitionFacts) -> list[str]:
    """Why the caller may not take `transition` now (empty: allowed)."""
    reasons = []
    if transition.roles and facts.role not in transition.roles:
        reasons.append(f"only {', '.join(transition.roles)} may do this")
    reasons += [_CONDITION_TEXT[c] for c in transition.conditions if not facts.holds(c)]
    return reasons


def available(workflow: Workflow, source: str, facts: TransitionFacts) -> list[Transition]:
    """The transitions the caller may take from `source` right now."""
    return [t for t in transitions_from(workflow, source) if not blockers(t, facts)]


def check_transition(workflow: Workflow, source: str, target: str, facts: TransitionFacts) -> None:
    """Raise `TransitionForbidden` (listing the allowed targets) unless the move is allowed.

    Staying in the same status is always allowed; an unknown target is invalid input.
    """
    if workflow.status(target) is None:
        raise InvalidInput.field("status", f"must be one of: {', '.join(workflow.ids)}")
    if source == target:
        return
    allowed = tuple(t.target for t in available(workflow, source, facts))
    if target in allowed:
        return
    match = next((t for t in transitions_from(workflow, source) if t.target == target), None)
    why = "; ".join(blockers(match, facts)) if match else "no such transition in the workflow"
    raise TransitionForbidden(f"cannot move from {source!r} to {target!r}: {why}", allowed)


def check_wip(workflow: Workflow, target: str, count_after: int, *, warn_only: bool) -> str | None:
    """Enforce the target's WIP limit given how many tasks it would hold after the move.

    Raises `WipLimitExceeded`, or with `warn_only` returns the warning instead.
    """
    status = workflow.status(target)
    if status is None or status.wip_limit is None or count_after <= status.wip_limit:
        return None
    message = (
        f"status {target!r} would hold {count_after} tasks; its WIP limit is {status.wip_limit}"
    )
    if warn_only:
        return message
    raise WipLimitExceeded(message, target, status.wip_limit)


def removed_statuses(old: Workflow, new: Workflow) -> list[str]:
    return [sid for sid in old.ids if new.status(sid) is None]


def check_moves(
    old: Workflow, new: Workflow, moves: Mapping[str, str], in_use: Iterable[str]
) -> dict[str, str]:
    """The status remapping for a workflow edit: every removed status still used by a
    task needs a target that exists in the new workflow."""
    removed = removed_statuses(old, new)
    for source, target in moves.items():
        if source not in removed:
            raise _bad(f"moves: {source!r} is not a status being removed")
        if new.status(target) is None:
            raise _bad(f"moves: target {target!r} is not a status of the new workflow")
    stranded = sorted(set(in_use) & set(removed) - set(moves))
    if stranded:
        raise _bad(f"status {stranded[0]!r} is still used by tasks; give it a target in moves")
    return dict(moves)
