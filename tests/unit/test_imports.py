"""Reading Jira, mapped-CSV and Taskhive files, and planning them onto a project."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pytest

from domain.import_formats import (
    parse_date,
    read_jira_csv,
    read_mapped_csv,
    read_taskhive_json,
)
from domain.imports import Report, SourceRow, Target, plan, workflow_with
from domain.workflow import parse_workflow
from domain.workflow_templates import template

FIXTURES = Path(__file__).parent.parent / "fixtures"
ANN, BOB, ME = uuid4(), uuid4(), uuid4()
SCRUM = {"to do": "todo", "in progress": "in_progress", "done": "done"}
PEOPLE = {"ann@acme.example": ANN, "bob@acme.example": BOB}


def _jira(name: str) -> tuple[list[SourceRow], Report]:
    report = Report()
    return read_jira_csv((FIXTURES / name).read_bytes(), report), report


def test_the_jira_export_is_read_field_by_field() -> None:
    rows, report = _jira("jira_export.csv")
    assert report.ok and report.encoding == "utf-8"
    assert [r.key for r in rows] == [f"SHOP-{n}" for n in range(1, 13)]
    first = rows[0]
    assert first.line == 2 and first.source_id == "10001"
    assert first.description.endswith('Expected: "Thank you" page.')
    assert first.labels == ("frontend", "payments")
    assert first.sprint == "Sprint 2"  # the latest of the repeated Sprint columns
    assert (first.estimate, first.due_date) == (5.0, date(2026, 11, 12))
    assert first.created_at == datetime(2026, 11, 3, 9, 15, tzinfo=UTC)
    assert [c.author for c in first.comments] == ["bob@acme.example", "ann@acme.example"]
    assert first.comments[1].body.endswith('SameSite flag, "once again".')
    assert rows[1].line == 7  # the first row spanned five lines
    assert rows[5].comments[0].body == "Use Decimal; a comment with a ; semicolon inside."
    assert rows[11].description == '"Pricng" → "Pricing"'


def test_a_cp1252_file_is_read_and_its_encoding_reported() -> None:
    rows, report = _jira("jira_cp1252.csv")
    assert report.ok and report.encoding == "cp1252"
    assert rows[0].title == "Café menu shows “prices” in €"
    assert rows[0].description == "Crème brûlée costs 7€ \u2013 not 7$"


def test_every_malformed_row_is_reported_with_its_line() -> None:
    rows, report = _jira("jira_malformed.csv")
    assert [(p.line, p.column) for p in report.errors] == [(3, None), (5, "Created")]
    assert "3 fields where the header has 6" in report.errors[0].reason
    items = plan(rows, Target(SCRUM, PEOPLE, ME), report)
    assert items == []
    assert [(p.line, p.column) for p in report.errors[2:]] == [(4, "Summary"), (6, "Status")]
    assert report.unknown_statuses == ["Blocked"]


def test_a_file_that_is_not_a_jira_export_says_so() -> None:
    report = Report()
    assert read_jira_csv(b"name,age\nann,3\n", report) == []
    assert "Summary" in report.errors[0].reason
    report = Report()
    assert read_jira_csv(b"", report) == [] and "empty" in report.errors[0].reason
    report = Report()
    read_jira_csv(b'Summary,Status\n"unclosed,To Do\n', report)
    assert not report.ok


def test_plan_maps_people_statuses_and_puts_parents_first() -> None:
    rows, report = _jira("jira_export.csv")
    items = plan(rows, Target(SCRUM, PEOPLE, ME), report)
    assert report.ok, report.errors
    order = [i.source_key for i in items]
    assert order.index("SHOP-1") < order.index("SHOP-2")
    assert order.index("SHOP-7") < order.index("SHOP-9") < order.index("SHOP-10")
    by_key = {i.source_key: i for i in items}
    one = by_key["SHOP-1"]
    assert one.fields["status"] == "in_progress" and one.fields["priority"] == "urgent"
    assert one.fields["assignee_id"] == ANN and one.reporter_id == BOB
    assert by_key["SHOP-2"].fields["parent_id"] == one.id
    assert by_key["SHOP-10"].fields["parent_id"] == by_key["SHOP-9"].id
    assert by_key["SHOP-7"].fields["priority"] == "medium"
    assert by_key["SHOP-8"].fields["priority"] == "low"  # Jira's Lowest
    # carol is no member: reported, left unassigned, her comment kept under the importer
    assert report.unknown_users == ["carol@elsewhere.example"]
    assert "assignee_id" not in by_key["SHOP-12"].fields
    [carols] = by_key["SHOP-4"].comments
    assert carols.author_id == ME and carols.body.startswith("carol@elsewhere.example: ")
    assert by_key["SHOP-12"].fields["estimate"] == 0.5


def test_unknown_statuses_are_created_when_asked() -> None:
    rows = [SourceRow(line=2, title="A", key="X-1", status="Blocked"), SourceRow(3, "B", "X-2")]
    report = Report()
    items = plan(rows, Target(SCRUM, {}, ME, create_statuses=True), report)
    assert report.ok and report.new_statuses == {"Blocked": "blocked"}
    assert items[0].fields["status"] == "blocked"
    current = template("scrum").as_json()
    extended = workflow_with(current, report.new_statuses)
    workflow = parse_workflow(extended, version=2)  # still a valid workflow
    blocked = workflow.status("blocked")
    assert blocked is not None
    assert blocked.category.value == "todo"


def test_cycles_and_duplicates_are_errors() -> None:
    rows = [
        SourceRow(line=2, title="A", key="X-1", parent="X-2"),
        SourceRow(line=3, title="B", key="X-2", parent="X-1"),
        SourceRow(line=4, title="C", key="X-2"),
        SourceRow(line=5, title="D", key="X-4", parent="X-99"),
    ]
    report = Report()
    assert plan(rows, Target(SCRUM, {}, ME), report) == []
    reasons = " | ".join(p.reason for p in report.errors)
    assert "appears twice" in reasons and "not in the file" in reasons


def test_a_mapped_csv() -> None:
    data = b"Name,State,Owner,Tags,Points\nWrite docs,Done,ann@acme.example,docs; writing,3\n"
    report = Report()
    rows = read_mapped_csv(
        data,
        {
            "title": "Name",
            "status": "State",
            "assignee": "Owner",
            "labels": "Tags",
            "estimate": "Points",
        },
        report,
    )
    assert report.ok
    [item] = plan(rows, Target(SCRUM, PEOPLE, ME), report)
    assert item.fields == {
        "title": "Write docs",
        "status": "done",
        "assignee_id": ANN,
        "labels": ["docs", "writing"],
        "estimate": 3.0,
    }
    bad = Report()
    read_mapped_csv(data, {"title": "Nom"}, bad)
    assert "no column 'Nom'" in bad.errors[0].reason
    bad = Report()
    read_mapped_csv(data, {"colour": "Name"}, bad)
    assert "cannot map to 'colour'" in bad.errors[0].reason


def test_a_taskhive_export_is_read_back() -> None:
    doc = {
        "workflow": {"statuses": [{"id": "s1", "name": "In Progress"}]},
        "people": [{"id": str(ANN), "email": "ann@acme.example"}],
        "sprints": [{"id": "sp", "name": "Sprint 9"}],
        "tasks": [
            {
                "id": "t1",
                "key": "OLD-1",
                "title": "Parent",
                "status": "s1",
                "priority": "high",
                "assignee_id": str(ANN),
                "reporter_id": str(ANN),
                "created_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-02T00:00:00+00:00",
                "sprint_id": "sp",
            },
            {
                "id": "t2",
                "key": "OLD-2",
                "title": "Child",
                "status": "s1",
                "parent_id": "t1",
                "reporter_id": str(ANN),
                "created_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:00:00+00:00",
            },
        ],
        "comments": [
            {
                "task_id": "t1",
                "author_id": str(ANN),
                "body": "hi",
                "created_at": "2026-01-03T00:00:00Z",
            }
        ],
    }
    report = Report()
    rows = read_taskhive_json(orjson.dumps(doc), report)
    items = plan(rows, Target(SCRUM, PEOPLE, ME), report)
    assert report.ok
    parent, child = items
    assert parent.fields["status"] == "in_progress" and parent.sprint == "Sprint 9"
    assert parent.comments[0].author_id == ANN
    assert child.fields["parent_id"] == parent.id
    bad = Report()
    read_taskhive_json(b"{}", bad)
    assert "not a Taskhive export" in bad.errors[0].reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03/Nov/26 9:15 AM", datetime(2026, 11, 3, 9, 15, tzinfo=UTC)),
        ("2026-11-03 09:15", datetime(2026, 11, 3, 9, 15, tzinfo=UTC)),
        ("2026-11-03T09:15:00Z", datetime(2026, 11, 3, 9, 15, tzinfo=UTC)),
        ("", None),
    ],
)
def test_dates(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected


def test_ids_are_uuids() -> None:
    rows, report = _jira("jira_export.csv")
    items = plan(rows, Target(SCRUM, PEOPLE, ME), report)
    assert all(isinstance(i.id, UUID) for i in items)
    assert len({i.id for i in items}) == 12
