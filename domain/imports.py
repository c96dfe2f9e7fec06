"""Importing tasks from elsewhere: the rows read from a file, and the plan made of them.

Reading a file (`domain.import_formats`) yields `SourceRow`s in the words of the
source (status and priority names, people's emails, the source's own keys).
`plan` maps them onto a project — statuses by name, people by email, parents by
the source's ids or keys — and either returns the `ImportItem`s to create
(ordered parents first, each with its id decided here so later batches can
point at it) or a `Report` of what is wrong, with line numbers. Nothing is
written unless the whole file plans cleanly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from domain.comments import check_body
from domain.custom_fields import FieldDef
from domain.errors import DomainError
from domain.import_fields import SourceValues, planned_values
from domain.tasks import ESTIMATE_MAX, TITLE_MAX, Priority, check_fields
from domain.workflow import ANY, MAX_TRANSITIONS

#: Issues per grain command: each batch commits atomically and on its own.
BATCH_SIZE = 200
MAX_ROWS = 50_000

#: Source priority names (Jira's and ours), lowercased → ours.
PRIORITIES: dict[str, Priority] = {
    "": Priority.NONE,
    "none": Priority.NONE,
    "highest": Priority.URGENT,
    "blocker": Priority.URGENT,
    "critical": Priority.URGENT,
    "urgent": Priority.URGENT,
    "high": Priority.HIGH,
    "major": Priority.HIGH,
    "medium": Priority.MEDIUM,
    "normal": Priority.MEDIUM,
    "low": Priority.LOW,
    "minor": Priority.LOW,
    "lowest": Priority.LOW,
    "trivial": Priority.LOW,
}


@dataclass(frozen=True, slots=True)
class SourceComment:
    author: str  # an email, or the source's name for the person
    body: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One issue as the source describes it; `line` is where it starts in the file."""

    line: int
    title: str
    key: str = ""
    source_id: str = ""
    description: str = ""
    status: str = ""
    priority: str = ""
    assignee: str = ""
    reporter: str = ""
    labels: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    due_date: date | None = None
    parent: str = ""  # the parent's source id or key
    sprint: str = ""
    estimate: float | None = None
    comments: tuple[SourceComment, ...] = ()
    #: Custom field values by field name (`domain.import_fields`).
    custom: SourceValues = ()


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    reason: str
    column: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass(slots=True)
class Report:
    """What a file would import, and what stops it or was adjusted."""

    rows: int = 0
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    unknown_statuses: list[str] = field(default_factory=list)
    unknown_users: list[str] = field(default_factory=list)
    #: Statuses the import adds to the workflow (asked for): name → new id.
    new_statuses: dict[str, str] = field(default_factory=dict)
    #: Custom field definitions the file brings (a Taskhive export), and the
    #: names of those the import adds to the project.
    brought_fields: list[FieldDef] = field(default_factory=list)
    new_fields: list[str] = field(default_factory=list)
    encoding: str = "utf-8"

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "encoding": self.encoding,
            "errors": [p.as_json() for p in self.errors[:500]],
            "error_count": len(self.errors),
            "warnings": [p.as_json() for p in self.warnings[:500]],
            "warning_count": len(self.warnings),
            "unknown_statuses": self.unknown_statuses,
            "unknown_users": self.unknown_users,
            "new_statuses": self.new_statuses,
            "new_fields": self.new_fields,
        }


@dataclass(frozen=True, slots=True)
class ImportComment:
    author_id: UUID
    body: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImportItem:
    """A task to create, already mapped onto the project."""

    id: UUID
    source_key: str
    fields: dict[str, Any]
    reporter_id: UUID
    created_at: datetime | None
    updated_at: datetime | None
    sprint: str | None
    comments: tuple[ImportComment, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """What the plan needs to know of the project and its organisation."""

    statuses: Mapping[str, str]  # lowercased status name (and id) → status id
    people: Mapping[str, UUID]  # lowercased email → user id of a member
    actor_id: UUID  # who imports: the reporter and author when the source's is unknown
    create_statuses: bool = False
    #: Custom fields by lower-cased name: the project's and those the import adds.
    fields: Mapping[str, FieldDef] = field(default_factory=dict)
    #: Whether story points (`estimate`) also fill a "Story Points" number field (Jira).
    points_field: bool = False


def priority_of(name: str) -> Priority | None:
    return PRIORITIES.get(name.strip().lower())


def new_status_id(name: str) -> str:
    """The id a status created for an import gets: its name, slugged."""
    slug = "".join(c if c.isalnum() else "_" for c in name.strip().lower()).strip("_")
    return (slug or "status")[:32]


def plan(rows: Sequence[SourceRow], target: Target, report: Report) -> list[ImportItem]:
    """Map rows onto the project; problems go to `report`. Parents come first."""
    report.rows = len(rows)
    if len(rows) > MAX_ROWS:
        report.errors.append(Problem(0, f"at most {MAX_ROWS} issues per import"))
        return []
    ids = _assign_ids(rows, report)
    statuses = dict(target.statuses)
    unknown_statuses: dict[str, None] = {}
    unknown_users: dict[str, None] = {}

    def person(value: str, row: SourceRow, column: str) -> UUID | None:
        if not value:
            return None
        found = target.people.get(value.strip().lower())
        if found is None:
            unknown_users[value] = None
            report.warnings.append(
                Problem(row.line, f"no member with email {value!r}; left out", column)
            )
        return found

    items: list[ImportItem] = []
    for row in rows:
        fields: dict[str, Any] = {"title": row.title.strip()[:TITLE_MAX]}
        if not fields["title"]:
            report.errors.append(Problem(row.line, "the summary is empty", "Summary"))
            continue
        if len(row.title.strip()) > TITLE_MAX:
            report.warnings.append(
                Problem(row.line, f"summary cut to {TITLE_MAX} characters", "Summary")
            )
        if row.description:
            fields["description"] = row.description
        if row.status:
            status = statuses.get(row.status.strip().lower())
            if status is None and target.create_statuses:
                status = new_status_id(row.status)
                while status in statuses.values():
                    status = f"{status[:28]}_{len(statuses)}"
                statuses[row.status.strip().lower()] = status
                unknown_statuses[row.status.strip()] = None
                report.new_statuses[row.status.strip()] = status
            elif status is None:
                unknown_statuses[row.status.strip()] = None
                report.errors.append(
                    Problem(row.line, f"no status {row.status!r} in the workflow", "Status")
                )
            if status is not None:
                fields["status"] = status
        priority = priority_of(row.priority)
        if priority is None:
            report.warnings.append(
                Problem(row.line, f"unknown priority {row.priority!r}; set to none", "Priority")
            )
        elif priority is not Priority.NONE:
            fields["priority"] = priority.value
        assignee = person(row.assignee, row, "Assignee")
        if assignee is not None:
            fields["assignee_id"] = assignee
        if row.labels:
            fields["labels"] = list(dict.fromkeys(row.labels))
        if row.estimate is not None:
            if 0 <= row.estimate <= ESTIMATE_MAX:
                fields["estimate"] = row.estimate
            else:
                report.errors.append(
                    Problem(row.line, f"story points must be 0 to {ESTIMATE_MAX}", "Story Points")
                )
        if row.due_date is not None:
            fields["due_date"] = row.due_date
        values, problems = planned_values(
            row.custom,
            row.estimate if target.points_field else None,
            target.fields,
            partial(person, row=row, column="Custom field"),
        )
        report.errors.extend(Problem(row.line, reason, column) for column, reason in problems)
        if values:
            fields["custom_fields"] = values
        if row.parent:
            parent = ids.get(row.parent)
            if parent is None:
                report.errors.append(
                    Problem(row.line, f"parent {row.parent!r} is not in the file", "Parent")
                )
            else:
                fields["parent_id"] = parent
        comments = tuple(
            _comment(c, person(c.author, row, "Comment") if "@" in c.author else None, target)
            for c in row.comments
            if c.body.strip()
        )
        if not _valid(row, fields, comments, set(statuses.values()), report):
            continue
        items.append(
            ImportItem(
                id=ids[row.key or row.source_id or str(row.line)],
                source_key=row.key or row.source_id or f"line {row.line}",
                fields=fields,
                reporter_id=person(row.reporter, row, "Reporter") or target.actor_id,
                created_at=row.created_at,
                updated_at=row.updated_at or row.created_at,
                sprint=row.sprint.strip() or None,
                comments=comments,
            )
        )
    report.unknown_statuses = list(unknown_statuses)
    report.unknown_users = list(unknown_users)
    ordered = parents_first(items, report)
    return ordered if report.ok else []


def _valid(
    row: SourceRow,
    fields: dict[str, Any],
    comments: tuple[ImportComment, ...],
    statuses: set[str],
    report: Report,
) -> bool:
    """The checks the grain will make, made now so a bad row is reported by line."""
    try:
        check_fields(
            {k: v for k, v in fields.items() if k != "parent_id"}, statuses=tuple(statuses)
        )
        for c in comments:
            check_body(c.body)
    except DomainError as error:
        report.errors.append(Problem(row.line, error.detail))
        return False
    return True


def _comment(c: SourceComment, author: UUID | None, target: Target) -> ImportComment:
    """A comment by its member author, else by whoever imports, naming the writer."""
    body = c.body if author is not None or not c.author else f"{c.author}: {c.body}"
    return ImportComment(author or target.actor_id, body, c.created_at)


def _assign_ids(rows: Sequence[SourceRow], report: Report) -> dict[str, UUID]:
    """A new task id for each row, findable by the row's source id and key."""
    ids: dict[str, UUID] = {}
    for row in rows:
        new = uuid4()
        names = [n for n in (row.key, row.source_id) if n] or [str(row.line)]
        for name in names:
            if name in ids:
                report.errors.append(Problem(row.line, f"{name!r} appears twice in the file"))
            ids[name] = new
    return ids


def parents_first(items: Iterable[ImportItem], report: Report) -> list[ImportItem]:
    """Items ordered so a parent precedes its children; a cycle is an error."""
    items = list(items)
    by_id = {item.id: item for item in items}
    placed: set[UUID] = set()
    visiting: set[UUID] = set()
    ordered: list[ImportItem] = []

    def place(item: ImportItem) -> None:
        if item.id in placed:
            return
        if item.id in visiting:
            report.errors.append(Problem(0, f"{item.source_key} is its own ancestor"))
            return
        visiting.add(item.id)
        parent = by_id.get(item.fields.get("parent_id"))  # type: ignore[arg-type]
        if parent is not None:
            place(parent)
        visiting.discard(item.id)
        placed.add(item.id)
        ordered.append(item)

    for item in items:
        place(item)
    return ordered


def batches(items: Sequence[ImportItem], size: int = BATCH_SIZE) -> list[tuple[ImportItem, ...]]:
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _category_guess(name: str) -> str:
    lowered = name.lower()
    if any(w in lowered for w in ("done", "closed", "resolved", "complete", "released")):
        return "done"
    if any(w in lowered for w in ("progress", "review", "testing", "doing", "qa")):
        return "in_progress"
    return "todo"


def workflow_with(workflow: Mapping[str, Any], new: Mapping[str, str]) -> dict[str, Any]:
    """The workflow (as `Workflow.as_json` writes it) with the new statuses (name →
    id): reachable from anywhere and, when room allows, able to go anywhere."""
    statuses = list(workflow["statuses"])
    transitions = list(workflow["transitions"])
    for name, status_id in new.items():
        old = [s["id"] for s in statuses]
        statuses.append(
            {
                "id": status_id,
                "name": name.strip()[:64],
                "category": _category_guess(name),
                "color": "#8b949e",
                "wip_limit": None,
            }
        )
        transitions.append(_transition(ANY, status_id))
        if len(transitions) + len(old) <= MAX_TRANSITIONS:
            transitions += [_transition(status_id, other) for other in old]
    return {**workflow, "statuses": statuses, "transitions": transitions}


def _transition(source: str, target: str) -> dict[str, Any]:
    return {"from": source, "to": target, "name": None, "roles": [], "conditions": []}


# -- a plan kept with its job, so another process can resume it ----------------------

_UUID_FIELDS = ("assignee_id", "parent_id")


def item_to_json(item: ImportItem) -> dict[str, Any]:
    """An item as JSON (`item_from_json` reads it back unchanged)."""
    fields = dict(item.fields)
    for name in _UUID_FIELDS:
        if fields.get(name) is not None:
            fields[name] = str(fields[name])
    if isinstance(fields.get("due_date"), date):
        fields["due_date"] = fields["due_date"].isoformat()
    return {
        "id": str(item.id),
        "source_key": item.source_key,
        "fields": fields,
        "reporter_id": str(item.reporter_id),
        "created_at": _moment(item.created_at),
        "updated_at": _moment(item.updated_at),
        "sprint": item.sprint,
        "comments": [
            {"author_id": str(c.author_id), "body": c.body, "created_at": _moment(c.created_at)}
            for c in item.comments
        ],
    }


def item_from_json(raw: Mapping[str, Any]) -> ImportItem:
    fields = dict(raw["fields"])
    for name in _UUID_FIELDS:
        if fields.get(name) is not None:
            fields[name] = UUID(fields[name])
    if fields.get("due_date") is not None:
        fields["due_date"] = date.fromisoformat(fields["due_date"])
    return ImportItem(
        id=UUID(raw["id"]),
        source_key=raw["source_key"],
        fields=fields,
        reporter_id=UUID(raw["reporter_id"]),
        created_at=_parse_moment(raw["created_at"]),
        updated_at=_parse_moment(raw["updated_at"]),
        sprint=raw["sprint"],
        comments=tuple(
            ImportComment(UUID(c["author_id"]), c["body"], _parse_moment(c["created_at"]))
            for c in raw["comments"]
        ),
    )


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
