"""Custom fields in imports (what a file brings, values planned by name) and the
breakdown report's grouping, without services."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import orjson
import pytest

from domain.custom_fields import FieldDef, FieldType, Option
from domain.errors import InvalidInput
from domain.import_fields import creation_body, display_value, fields_to_create
from domain.import_formats import read_jira_csv, read_taskhive_json
from domain.imports import Report, Target, plan
from domain.workflow_templates import template
from reports.breakdown import Tally, breakdown, parse_dimension
from tests.unit.factories import make_project

FIXTURES = Path(__file__).parent.parent / "fixtures"
ANN, ME = uuid4(), uuid4()
SEV = FieldDef("f1", "Severity", FieldType.SINGLE_SELECT, options=(Option("o1", "High"),))
OWNER = FieldDef("f2", "Owner", FieldType.USER)
POINTS = FieldDef("f3", "Story Points", FieldType.NUMBER)
DONE = FieldDef("f4", "Reviewed", FieldType.CHECKBOX)
NOTES = FieldDef("f5", "Notes", FieldType.TEXT)


def _export(values: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "workflow": {"statuses": [{"id": "todo", "name": "To Do"}]},
            "people": [{"id": str(ANN), "email": "ann@acme.example"}],
            "fields": [SEV.as_json(), OWNER.as_json()],
            "tasks": [
                {
                    "id": str(uuid4()),
                    "key": "WEB-1",
                    "title": "One",
                    "status": "todo",
                    "created_at": "2026-01-01T00:00:00+00:00",
                    "updated_at": "2026-01-01T00:00:00+00:00",
                    "custom_fields": values,
                }
            ],
        }
    )


def _target(fields: tuple[FieldDef, ...], *, people: bool = True, jira: bool = False) -> Target:
    return Target(
        {"todo": "todo", "to do": "todo", "in progress": "todo", "done": "todo"},
        {"ann@acme.example": ANN} if people else {},
        ME,
        fields={f.name.lower(): f for f in fields},
        points_field=jira,
        create_statuses=True,
    )


def test_a_taskhive_export_brings_its_fields_and_values_by_name() -> None:
    report = Report()
    rows = read_taskhive_json(_export({"f1": "o1", "f2": str(ANN), "gone": 1}), report)
    assert [f.name for f in report.brought_fields] == ["Severity", "Owner"]
    assert rows[0].custom == (("Severity", "High"), ("Owner", "ann@acme.example"))
    items = plan(rows, _target((SEV, OWNER)), report)
    assert report.ok and items[0].fields["custom_fields"] == {"Severity": "High", "Owner": str(ANN)}

    # An unknown person is left out with a warning; a value that does not fit is an error.
    report = Report()
    rows = read_taskhive_json(_export({"f2": str(ANN)}), report)
    items = plan(rows, _target((SEV, OWNER), people=False), report)
    assert "custom_fields" not in items[0].fields and report.warnings
    report = Report()
    rows = read_taskhive_json(_export({"f1": "o1"}), report)
    other = FieldDef("x", "Severity", FieldType.SINGLE_SELECT, options=(Option("o9", "Low"),))
    assert plan(rows, _target((other,)), report) == []
    assert [(p.column, "not an option" in p.reason) for p in report.errors] == [("Severity", True)]


def test_fields_the_project_lacks_are_created_and_type_clashes_reported() -> None:
    clash = FieldDef("z", "owner", FieldType.TEXT)
    new, problems = fields_to_create([SEV, OWNER], [clash])
    assert new == [SEV] and problems == [
        "field 'Owner' is user in the file but text in this project"
    ]
    assert creation_body(SEV) == {
        "name": "Severity",
        "type": "single_select",
        "options": [{"name": "High", "color": SEV.options[0].color}],
    }


def test_jira_story_points_fill_a_number_field_of_that_name() -> None:
    report = Report()
    rows = read_jira_csv((FIXTURES / "jira_export.csv").read_bytes(), report)
    items = plan(rows, _target((POINTS,), jira=True), report)
    by_key = {i.source_key: i.fields for i in items}
    assert by_key["SHOP-1"]["custom_fields"] == {"Story Points": 5.0}
    assert by_key["SHOP-1"]["estimate"] == 5.0
    assert "custom_fields" not in by_key["SHOP-6"]  # no story points in the file
    report = Report()
    items = plan(rows, _target((POINTS,), jira=False), report)
    assert all("custom_fields" not in i.fields for i in items)


def test_csv_cells_show_names_emails_and_booleans() -> None:
    emails = {str(ANN): "ann@acme.example"}
    assert display_value(SEV, "o1", emails) == "High"
    assert display_value(OWNER, str(ANN), emails) == "ann@acme.example"
    assert display_value(DONE, False, emails) == "false"
    assert display_value(POINTS, 3.0, emails) == "3"
    assert display_value(POINTS, None, emails) == ""


def test_the_breakdown_orders_known_groups_first_and_labels_them() -> None:
    project = make_project(workflow=template("kanban"))
    fields = [SEV, DONE, NOTES]
    dim = parse_dimension("cf:severity", fields)
    body = breakdown(project, dim, [Tally(None, 1, 1, Decimal("0.5")), Tally("o1", 2, 1)], {})
    assert body["group_by"] == "cf:f1" and body["field"]["name"] == "Severity"
    assert [(g["label"], g["count"], g["open"], g["estimate"]) for g in body["groups"]] == [
        ("High", 2, 1, 0.0),
        ("(none)", 1, 1, 0.5),
    ]
    body = breakdown(project, parse_dimension("cf:f4", fields), [Tally("false", 3, 3)], {})
    assert [(g["value"], g["count"]) for g in body["groups"]] == [("true", 0), ("false", 3)]
    people = {str(ANN): "ann@x"}
    found = [Tally("b", 1, 1), Tally(str(ANN), 1, 0), Tally("c", 5, 5), Tally(None, 2, 2)]
    body = breakdown(project, parse_dimension("assignee", fields), found, people)
    assert [g["label"] for g in body["groups"]] == ["c", "ann@x", "b", "(none)"]
    for bad in ("cf:Notes", "cf:nope", "label", "cf:"):
        with pytest.raises(InvalidInput):
            parse_dimension(bad, fields)
