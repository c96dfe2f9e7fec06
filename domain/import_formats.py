"""Reading import files into `SourceRow`s: Jira's CSV export, a CSV with a column
mapping, and Taskhive's own JSON export.

Jira repeats a header for multi-valued fields (`Labels`, `Sprint`, `Comment`),
so rows are read by position, not into dicts. Files come in UTF-8 (with or
without a byte-order mark) or, from older Windows installs, cp1252; the
encoding used is reported. A malformed row is reported with the line it starts
on and the reason, and the rest of the file is still read so one pass finds
every problem.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import orjson

from domain.custom_fields import definitions_from_json
from domain.import_fields import source_values
from domain.imports import Problem, Report, SourceComment, SourceRow

MAX_FILE_BYTES = 50 * 1024 * 1024
csv.field_size_limit(2 * 1024 * 1024)

#: Jira's date formats (its default first), then ISO forms.
_DATE_FORMATS = (
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%d/%b/%y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
)

JIRA_COLUMNS = {
    "summary": ("Summary",),
    "key": ("Issue key",),
    "source_id": ("Issue id",),
    "description": ("Description",),
    "status": ("Status",),
    "priority": ("Priority",),
    "assignee": ("Assignee",),
    "reporter": ("Reporter",),
    "created": ("Created",),
    "updated": ("Updated",),
    "due": ("Due Date", "Due date"),
    "parent": ("Parent id", "Parent", "Parent key"),
    "estimate": (
        "Custom field (Story Points)",
        "Custom field (Story point estimate)",
        "Story Points",
        "Story points",
    ),
}


def decode(data: bytes, report: Report) -> str:
    if len(data) > MAX_FILE_BYTES:
        report.errors.append(Problem(0, f"the file is over {MAX_FILE_BYTES // 2**20} MB"))
        return ""
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        report.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        return text
    return ""  # latin-1 decodes anything; not reached


def parse_date(value: str) -> datetime | None:
    """A source timestamp, in UTC when the source names no zone. Raises ValueError."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for pattern in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, pattern).replace(tzinfo=UTC)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"unreadable date {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _records(text: str, report: Report) -> list[tuple[int, list[str]]]:
    """CSV records with the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            records.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        report.errors.append(Problem(start, f"malformed CSV: {exc}"))
    return records


def _data(
    body: list[tuple[int, list[str]]], width: int, report: Report
) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records; one of the wrong width is reported and left out."""
    for line, record in body:
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != width:
            report.errors.append(
                Problem(line, f"{len(record)} fields where the header has {width}")
            )
            continue
        yield line, record


class _Columns:
    """Header positions, allowing repeated names."""

    def __init__(self, header: list[str]) -> None:
        self.positions: dict[str, list[int]] = {}
        for i, name in enumerate(header):
            self.positions.setdefault(name.strip(), []).append(i)

    def first(self, names: tuple[str, ...]) -> int | None:
        for name in names:
            if name in self.positions:
                return self.positions[name][0]
        return None

    def all(self, name: str) -> list[int]:
        return self.positions.get(name, [])


def read_jira_csv(data: bytes, report: Report) -> list[SourceRow]:
    """Issues of a Jira CSV export (all fields, or the current fields)."""
    records = _records(decode(data, report), report)
    if not records:
        if report.ok:
            report.errors.append(Problem(1, "the file is empty"))
        return []
    (_, header), body = records[0], records[1:]
    columns = _Columns(header)
    at = {name: columns.first(names) for name, names in JIRA_COLUMNS.items()}
    if at["summary"] is None:
        report.errors.append(Problem(1, "no 'Summary' column: is this a Jira CSV export?"))
        return []
    rows: list[SourceRow] = []
    for line, record in _data(body, len(header), report):

        def cell(name: str, record: list[str] = record) -> str:
            index = at[name]
            return record[index].strip() if index is not None else ""

        row = _jira_row(line, record, columns, cell, report)
        if row is not None:
            rows.append(row)
    return rows


def _jira_row(
    line: int,
    record: list[str],
    columns: _Columns,
    cell: Callable[[str], str],
    report: Report,
) -> SourceRow | None:
    problems = len(report.errors)
    dates: dict[str, datetime | None] = {}
    for name, column in (("created", "Created"), ("updated", "Updated"), ("due", "Due Date")):
        try:
            dates[name] = parse_date(cell(name))
        except ValueError as exc:
            report.errors.append(Problem(line, str(exc), column))
    estimate = None
    if cell("estimate"):
        try:
            estimate = float(cell("estimate"))
        except ValueError:
            report.errors.append(Problem(line, f"{cell('estimate')!r} is not a number", "Story"))
    comments = []
    for index in columns.all("Comment"):
        raw = record[index].strip()
        if raw:
            comment = _jira_comment(raw)
            if comment is None:
                report.warnings.append(Problem(line, "a comment had no body; skipped", "Comment"))
            else:
                comments.append(comment)
    sprints = [record[i].strip() for i in columns.all("Sprint") if record[i].strip()]
    if len(report.errors) > problems:
        return None
    due = dates.get("due")
    return SourceRow(
        line=line,
        title=cell("summary"),
        key=cell("key"),
        source_id=cell("source_id"),
        description=cell("description"),
        status=cell("status"),
        priority=cell("priority"),
        assignee=cell("assignee"),
        reporter=cell("reporter"),
        labels=tuple(
            label for i in columns.all("Labels") for label in record[i].split() if label.strip()
        ),
        created_at=dates.get("created"),
        updated_at=dates.get("updated"),
        due_date=due.date() if due else None,
        parent=cell("parent"),
        sprint=sprints[-1] if sprints else "",  # Jira lists past sprints first
        estimate=estimate,
        comments=tuple(comments),
    )


def _jira_comment(raw: str) -> SourceComment | None:
    """`date;author;body` (the body may hold `;`), or a bare body."""
    parts = raw.split(";", 2)
    if len(parts) == 3:
        try:
            when = parse_date(parts[0])
        except ValueError:
            when = None
        if when is not None:
            body = parts[2].strip()
            return SourceComment(parts[1].strip(), body, when) if body else None
    return SourceComment("", raw, None)


#: Fields a generic CSV may map columns to.
CSV_FIELDS = frozenset(
    {
        "title",
        "key",
        "description",
        "status",
        "priority",
        "assignee",
        "reporter",
        "labels",
        "created",
        "updated",
        "due",
        "parent",
        "estimate",
        "sprint",
    }
)


def _custom_target(name: str) -> str | None:
    """The custom field a mapping key `cf:<field name>` names."""
    if name.startswith("cf:") and name[3:].strip():
        return name[3:].strip()
    return None


def read_mapped_csv(data: bytes, mapping: Mapping[str, str], report: Report) -> list[SourceRow]:
    """A CSV whose columns are named by `mapping` (field → column header).

    Labels are split on `,` or `;`. `title` must be mapped. `cf:<field name>`
    maps a column to a custom field of the project (or of the file: none here),
    its cells read as text (`domain.import_fields.from_text`).
    """
    unknown = sorted(n for n in set(mapping) - CSV_FIELDS if not _custom_target(n))
    if unknown:
        report.errors.append(
            Problem(0, f"cannot map to {unknown[0]!r}; fields: {sorted(CSV_FIELDS)}")
        )
        return []
    if "title" not in mapping:
        report.errors.append(Problem(0, "the mapping must name the column of 'title'"))
        return []
    records = _records(decode(data, report), report)
    if not records:
        if report.ok:
            report.errors.append(Problem(1, "the file is empty"))
        return []
    (_, header), body = records[0], records[1:]
    columns = _Columns(header)
    at: dict[str, int] = {}
    for name, column in mapping.items():
        index = columns.first((column,))
        if index is None:
            report.errors.append(Problem(1, f"no column {column!r} (mapped from {name!r})"))
        else:
            at[name] = index
    if not report.ok:
        return []
    rows = []
    for line, record in _data(body, len(header), report):
        values = {name: record[i].strip() for name, i in at.items()}
        row = _mapped_row(line, values, mapping, report)
        if row is not None:
            rows.append(row)
    return rows


def _mapped_row(
    line: int, values: dict[str, str], mapping: Mapping[str, str], report: Report
) -> SourceRow | None:
    problems = len(report.errors)
    dates: dict[str, datetime | None] = {}
    for name in ("created", "updated", "due"):
        try:
            dates[name] = parse_date(values.get(name, ""))
        except ValueError as exc:
            report.errors.append(Problem(line, str(exc), mapping[name]))
    estimate = None
    if values.get("estimate"):
        try:
            estimate = float(values["estimate"])
        except ValueError:
            report.errors.append(Problem(line, "not a number", mapping["estimate"]))
    if len(report.errors) > problems:
        return None
    due = dates.get("due")
    labels = values.get("labels", "").replace(";", ",").split(",")
    return SourceRow(
        line=line,
        title=values["title"],
        key=values.get("key", ""),
        description=values.get("description", ""),
        status=values.get("status", ""),
        priority=values.get("priority", ""),
        assignee=values.get("assignee", ""),
        reporter=values.get("reporter", ""),
        labels=tuple(x.strip() for x in labels if x.strip()),
        created_at=dates.get("created"),
        updated_at=dates.get("updated"),
        due_date=due.date() if due else None,
        parent=values.get("parent", ""),
        sprint=values.get("sprint", ""),
        estimate=estimate,
        custom=tuple(
            (field, values[name])
            for name in mapping
            if (field := _custom_target(name)) is not None and values.get(name, "") != ""
        ),
    )


def read_taskhive_json(data: bytes, report: Report) -> list[SourceRow]:
    """Tasks of a Taskhive project export (`GET /api/v1/projects/{id}/export`)."""
    try:
        doc = orjson.loads(data)
        statuses = {s["id"]: s["name"] for s in doc["workflow"]["statuses"]}
        people: dict[str, str] = {p["id"]: p["email"] for p in doc.get("people", [])}
        sprints = {s["id"]: s["name"] for s in doc.get("sprints", [])}
        defined = {f.id: f for f in definitions_from_json(doc.get("fields") or [])}
        report.brought_fields = list(defined.values())
        comments: dict[str, list[SourceComment]] = {}
        for c in doc.get("comments", []):
            comments.setdefault(c["task_id"], []).append(
                SourceComment(
                    people.get(c["author_id"], ""), c["body"], parse_date(c["created_at"])
                )
            )
        rows = [
            replace(
                _json_row(n, task, statuses, people, sprints, comments),
                custom=source_values(task.get("custom_fields") or {}, defined, people),
            )
            for n, task in enumerate(doc["tasks"], start=1)
        ]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        report.errors.append(Problem(0, f"not a Taskhive export: {type(exc).__name__}: {exc}"))
        return []
    return rows


def _json_row(
    n: int,
    task: dict[str, Any],
    statuses: dict[str, str],
    people: dict[str, str],
    sprints: dict[str, str],
    comments: dict[str, list[SourceComment]],
) -> SourceRow:
    due = task.get("due_date")
    return SourceRow(
        line=n,
        title=task["title"],
        key=task["key"],
        source_id=task["id"],
        description=task.get("description") or "",
        status=statuses.get(task["status"], task["status"]),
        priority=task.get("priority") or "",
        assignee=people.get(task.get("assignee_id") or "", ""),
        reporter=people.get(task.get("reporter_id") or "", ""),
        labels=tuple(task.get("labels") or ()),
        created_at=parse_date(task["created_at"]),
        updated_at=parse_date(task["updated_at"]),
        due_date=date.fromisoformat(due) if due else None,
        parent=task.get("parent_id") or "",
        sprint=sprints.get(task.get("sprint_id") or "", ""),
        estimate=task.get("estimate"),
        comments=tuple(comments.get(task["id"], ())),
    )
