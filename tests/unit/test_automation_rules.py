"""Automation rules: what triggers fire on, what actions and conditions are
accepted, how deep a chain is, and what task changes actions make."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain.automation import (
    check_actions,
    check_condition,
    check_trigger,
    depth_of,
    due_window,
    fires,
    occasion_for_due,
    occasion_for_firing,
    task_changes,
)
from domain.errors import InvalidInput
from domain.filters import FilterSyntaxError

UPDATE = {
    "changes": {"status": "done", "priority": "high"},
    "from": {"status": "in_progress", "priority": "low"},
}


@pytest.mark.parametrize(
    ("trigger", "event", "payload", "expected"),
    [
        ({"type": "task_created"}, "task.created", {}, True),
        ({"type": "task_created"}, "task.updated", UPDATE, False),
        ({"type": "comment_added"}, "comment.created", {}, True),
        ({"type": "status_changed"}, "task.updated", UPDATE, True),
        ({"type": "status_changed", "to": "done"}, "task.updated", UPDATE, True),
        ({"type": "status_changed", "to": "todo"}, "task.updated", UPDATE, False),
        ({"type": "status_changed", "from": "in_progress"}, "task.updated", UPDATE, True),
        ({"type": "status_changed", "from": "todo"}, "task.updated", UPDATE, False),
        ({"type": "status_changed"}, "task.updated", {"changes": {"title": "x"}}, False),
        ({"type": "field_changed", "field": "priority"}, "task.updated", UPDATE, True),
        ({"type": "field_changed", "field": "title"}, "task.updated", UPDATE, False),
        (
            {"type": "field_changed", "field": "f1"},
            "task.updated",
            {"changes": {"custom_fields": {"f1": 2}}, "from": {"custom_fields": {"f1": 1}}},
            True,
        ),
        (
            {"type": "field_changed", "field": "f2"},
            "task.updated",
            {"changes": {"custom_fields": {"f1": 2}}, "from": {"custom_fields": {"f1": 1}}},
            False,
        ),
    ],
)
def test_triggers(
    trigger: dict[str, Any], event: str, payload: dict[str, Any], expected: bool
) -> None:
    assert fires(check_trigger(trigger), event, payload) is expected


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "someday"},
        {"type": "field_changed"},
        {"type": "task_created", "field": "x"},
        {"type": "status_changed", "to": ""},
        "task_created",
    ],
)
def test_bad_triggers(raw: object) -> None:
    with pytest.raises(InvalidInput, match="trigger"):
        check_trigger(raw)


def test_actions_are_checked_and_normalised() -> None:
    user = "00000000-0000-0000-0000-00000000000A"
    actions = check_actions(
        [
            {"type": "assign", "user_id": user},
            {"type": "assign", "user_id": None},
            {"type": "set_field", "field": "priority", "value": "high"},
            {"type": "set_field", "field": "cf:Severity", "value": "High"},
            {"type": "transition", "to": "done"},
            {"type": "add_label", "label": "triage"},
            {"type": "add_comment", "body": "Thanks!"},
            {"type": "notify", "user_ids": [user]},
        ]
    )
    assert actions[0]["user_id"] == user.lower()
    assert task_changes(actions) == {
        "assignee_id": None,
        "priority": "high",
        "custom_fields": {"Severity": "High"},
        "status": "done",
    }
    for bad in (
        [],
        [{"type": "explode"}],
        [{"type": "assign"}],
        [{"type": "assign", "user_id": "bob"}],
        [{"type": "set_field", "field": "version", "value": 3}],
        [{"type": "add_comment", "body": " "}],
        [{"type": "notify", "user_ids": []}],
        [{"type": "transition", "to": "done", "extra": 1}],
        [{"type": "add_label", "label": "x"}] * 11,
    ):
        with pytest.raises(InvalidInput):
            check_actions(bad)


def test_conditions_are_parsed_when_saved() -> None:
    assert check_condition(" priority:high AND label:bug ") == "priority:high AND label:bug"
    assert check_condition(None) == ""
    with pytest.raises(FilterSyntaxError) as error:
        check_condition("priority:high AND (")
    assert error.value.position > 0


def test_depth_counts_rules_behind_a_change() -> None:
    assert depth_of({"changes": {}}) == 0
    assert depth_of({"caused_by": {"rule_id": "r", "depth": 2}}) == 2
    assert depth_of({"caused_by": "junk"}) == 0


def test_timed_triggers_know_when_they_fire_next() -> None:
    monday_10 = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)  # a Monday
    daily = check_trigger({"type": "schedule", "every": "daily", "hour": 9})
    assert daily.next_firing(monday_10) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert daily.next_firing(datetime(2026, 11, 30, 8, tzinfo=UTC)) == datetime(
        2026, 11, 30, 9, tzinfo=UTC
    )
    weekly = check_trigger({"type": "schedule", "every": "weekly", "hour": 9, "weekday": 4})
    assert weekly.next_firing(monday_10) == datetime(2026, 12, 4, 9, tzinfo=UTC)  # Friday
    assert weekly.as_json() == {"type": "schedule", "every": "weekly", "hour": 9, "weekday": 4}
    due = check_trigger({"type": "due_soon", "days": 2})
    assert due.next_firing(monday_10) == datetime(2026, 11, 30, 11, tzinfo=UTC)
    assert due_window(due, monday_10) == (date(2026, 11, 30), date(2026, 12, 2))
    assert not fires(due, "task.created", {})
    assert occasion_for_due(date(2026, 12, 2)) == "d2026-12-02"
    assert occasion_for_firing(monday_10) == "s20261130T10"
    for bad in (
        {"type": "schedule", "every": "hourly"},
        {"type": "schedule", "every": "daily", "hour": 24},
        {"type": "due_soon", "days": 31},
        {"type": "due_soon", "days": True},
    ):
        with pytest.raises(InvalidInput):
            check_trigger(bad)
