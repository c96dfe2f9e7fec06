"""Workflows a project can start from, and the conversion of pre-workflow projects."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from domain.workflow import ANY, Category, Condition, Status, Transition, Workflow

_GREY, _BLUE, _YELLOW, _PURPLE, _GREEN, _RED = (
    "#8a8f98",
    "#1f6feb",
    "#d29922",
    "#8957e5",
    "#2da44e",
    "#cf222e",
)


class Template(StrEnum):
    KANBAN = "kanban"
    SCRUM = "scrum"
    BUG_TRACKING = "bug_tracking"


def _any_to_any(statuses: Sequence[Status]) -> tuple[Transition, ...]:
    return tuple(Transition(ANY, s.id) for s in statuses)


def _kanban() -> Workflow:
    statuses = (
        Status("backlog", "Backlog", Category.TODO, _GREY),
        Status("todo", "Todo", Category.TODO, _BLUE),
        Status("in_progress", "In Progress", Category.IN_PROGRESS, _YELLOW),
        Status("in_review", "In Review", Category.IN_PROGRESS, _PURPLE),
        Status("done", "Done", Category.DONE, _GREEN),
    )
    return Workflow(1, statuses, _any_to_any(statuses))


def _scrum() -> Workflow:
    statuses = (
        Status("todo", "To Do", Category.TODO, _BLUE),
        Status("in_progress", "In Progress", Category.IN_PROGRESS, _YELLOW),
        Status("done", "Done", Category.DONE, _GREEN),
    )
    return Workflow(1, statuses, _any_to_any(statuses))


def _bug_tracking() -> Workflow:
    statuses = (
        Status("new", "New", Category.TODO, _GREY),
        Status("triaged", "Triaged", Category.TODO, _BLUE),
        Status("in_progress", "In Progress", Category.IN_PROGRESS, _YELLOW),
        Status("fixed", "Fixed", Category.IN_PROGRESS, _PURPLE),
        Status("verified", "Verified", Category.DONE, _GREEN),
        Status("wont_fix", "Won't Fix", Category.DONE, _RED),
    )
    t = Transition
    transitions = (
        t("new", "triaged", "Triage"),
        t(ANY, "wont_fix", "Won't fix"),
        t("triaged", "in_progress", "Start", conditions=(Condition.ASSIGNEE_SET,)),
        t("in_progress", "fixed", "Resolve"),
        t("fixed", "verified", "Verify"),
        t("fixed", "in_progress", "Reopen"),
        t("verified", "in_progress", "Reopen"),
        t("wont_fix", "triaged", "Reopen"),
    )
    return Workflow(1, statuses, transitions)


_BUILDERS = {
    Template.KANBAN: _kanban,
    Template.SCRUM: _scrum,
    Template.BUG_TRACKING: _bug_tracking,
}


def template(name: Template | str = Template.KANBAN) -> Workflow:
    return _BUILDERS[Template(name)]()


#: The default workflow's status ids, in order.
DEFAULT_STATUS_IDS: tuple[str, ...] = template().ids

#: The status list projects had before workflows existed (and kept in `settings`).
LEGACY_STATUSES: tuple[str, ...] = ("open", "in_progress", "in_review", "done")


def from_status_list(names: Sequence[str]) -> Workflow:
    """A workflow for a project created before workflows: its plain status list with
    any-to-any transitions; the first status is `todo`, the last `done`, others
    `in_progress` (a one-status list is `todo` with an extra `done`)."""
    statuses = []
    for i, name in enumerate(names):
        if i == 0:
            category = Category.TODO
        elif i == len(names) - 1:
            category = Category.DONE
        else:
            category = Category.IN_PROGRESS
        statuses.append(Status(name, name.replace("_", " ").title(), category, _GREY))
    if len(statuses) == 1:
        statuses.append(Status("done", "Done", Category.DONE, _GREEN))
    if not any(s.category is Category.IN_PROGRESS for s in statuses):
        sid = "in_progress" if "in_progress" not in names else "doing"
        statuses.insert(1, Status(sid, "In Progress", Category.IN_PROGRESS, _YELLOW))
    return Workflow(1, tuple(statuses), _any_to_any(statuses))
