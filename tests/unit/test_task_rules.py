"""Task field rules and the pure create/update decisions in `domain.tasks`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from domain.errors import InvalidInput, PreconditionFailed
from domain.tasks import (
    DESCRIPTION_MAX_BYTES,
    EDITABLE_FIELDS,
    TITLE_MAX,
    Priority,
    Task,
    changed_task,
    check_fields,
    new_task,
)
from serve_app.schemas import TaskOut
from tests.unit.factories import T0, T1, make_task

STATUSES = ("todo", "doing", "done")


def offending_field(exc: InvalidInput) -> str:
    """The field an InvalidInput names in its `errors`."""
    assert len(exc.errors) == 1
    loc = exc.errors[0].loc
    assert loc[0] == "body"
    return str(loc[-1])


def check(fields: Mapping[str, object]) -> dict[str, object]:
    return check_fields(fields, statuses=STATUSES)


def rejected_field(fields: dict[str, object]) -> str:
    with pytest.raises(InvalidInput) as info:
        check(fields)
    return offending_field(info.value)


# -- check_fields: which fields ---------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "id",
        "version",
        "reporter_id",
        "created_at",
        "updated_at",
        "key",
        "number",
        "project_id",
        "org_id",
        "bogus",
    ],
)
def test_server_owned_or_unknown_field_is_rejected_and_named(name: str) -> None:
    assert rejected_field({"title": "ok", name: 1}) == name


def test_several_unknown_fields_name_one_of_them() -> None:
    assert rejected_field({"zeta": 1, "alpha": 2, "title": "ok"}) in {"zeta", "alpha"}


def test_all_editable_fields_accepted_together() -> None:
    assignee, parent, sprint, watcher = uuid4(), uuid4(), uuid4(), uuid4()
    out = check(
        {
            "title": "t",
            "description": "d",
            "status": "doing",
            "priority": "high",
            "assignee_id": assignee,
            "parent_id": parent,
            "estimate": 3,
            "due_date": date(2024, 2, 1),
            "start_date": date(2024, 1, 1),
            "labels": ["bug", "bug", "ui"],
            "watchers": [watcher],
            "sprint_id": sprint,
            "custom_fields": {"Severity": "High"},
        }
    )
    assert set(out) == EDITABLE_FIELDS
    assert out == {
        "title": "t",
        "description": "d",
        "status": "doing",
        "priority": Priority.HIGH,
        "assignee_id": assignee,
        "parent_id": parent,
        "estimate": 3.0,
        "due_date": date(2024, 2, 1),
        "start_date": date(2024, 1, 1),
        "labels": ("bug", "ui"),
        "watchers": (watcher,),
        "sprint_id": sprint,
        "custom_fields": {"Severity": "High"},  # checked against the project by the grain
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("estimate", -1),
        ("estimate", True),
        ("estimate", float("nan")),
        ("estimate", "3"),
        ("due_date", "2024-01-01"),
        ("due_date", datetime(2024, 1, 1)),  # noqa: DTZ001 - a datetime is not a date
        ("labels", "bug"),
        ("labels", [1]),
        ("watchers", ["me"]),
        ("parent_id", "x"),
        ("sprint_id", 5),
    ],
)
def test_bad_planning_fields_rejected(field: str, value: object) -> None:
    assert rejected_field({field: value}) == field


def test_due_date_before_start_date_rejected() -> None:
    task = make_task(start_date=date(2024, 2, 1))
    with pytest.raises(InvalidInput) as info:
        update(task, {"due_date": date(2024, 1, 1)})
    assert offending_field(info.value) == "due_date"


def test_empty_fields_are_valid_and_input_is_not_mutated() -> None:
    assert check({}) == {}
    fields = {"title": "  padded  ", "priority": "low"}
    out = check(fields)
    assert out == {"title": "padded", "priority": Priority.LOW}
    assert fields == {"title": "  padded  ", "priority": "low"}


# -- title ------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["", " ", "\t\n ", None, 5, ["x"]])
def test_blank_or_non_string_title_rejected(title: object) -> None:
    assert rejected_field({"title": title}) == "title"


def test_title_length_limit_is_255_characters() -> None:
    assert check({"title": "x" * TITLE_MAX})["title"] == "x" * TITLE_MAX
    assert rejected_field({"title": "x" * (TITLE_MAX + 1)}) == "title"
    # characters, not bytes: 255 three-byte characters are fine
    assert check({"title": "€" * TITLE_MAX})["title"] == "€" * TITLE_MAX


def test_title_is_stripped() -> None:
    assert check({"title": "  Fix login \n"})["title"] == "Fix login"


# -- description ------------------------------------------------------------------


def test_description_limit_is_100_kb_of_utf8() -> None:
    assert DESCRIPTION_MAX_BYTES == 100 * 1024
    exact = "a" * DESCRIPTION_MAX_BYTES
    assert check({"description": exact})["description"] == exact
    assert rejected_field({"description": exact + "a"}) == "description"


@pytest.mark.parametrize(("char", "width"), [("é", 2), ("€", 3), ("😀", 4)])
def test_description_limit_counts_bytes_not_characters(char: str, width: int) -> None:
    fits = char * (DESCRIPTION_MAX_BYTES // width)
    assert len(fits.encode()) <= DESCRIPTION_MAX_BYTES
    assert check({"description": fits})["description"] == fits
    too_big = fits + char
    # far fewer characters than the limit, but more bytes
    assert len(too_big) < DESCRIPTION_MAX_BYTES
    assert rejected_field({"description": too_big}) == "description"


def test_description_none_becomes_empty_string() -> None:
    assert check({"description": None}) == {"description": ""}


@pytest.mark.parametrize("description", [5, ["x"], {"a": 1}])
def test_non_string_description_rejected(description: object) -> None:
    assert rejected_field({"description": description}) == "description"


def test_description_with_lone_surrogate_is_invalid_input() -> None:
    assert rejected_field({"description": "ok \ud800"}) == "description"


# -- status, priority, assignee --------------------------------------------------


@pytest.mark.parametrize("status", ["open", "DONE", "", None, 1, "todo "])
def test_unknown_status_rejected(status: object) -> None:
    assert rejected_field({"status": status}) == "status"


@pytest.mark.parametrize("status", STATUSES)
def test_known_status_accepted(status: str) -> None:
    assert check({"status": status}) == {"status": status}


@pytest.mark.parametrize("priority", list(Priority))
def test_every_priority_accepted_as_string_or_enum(priority: Priority) -> None:
    assert check({"priority": priority.value})["priority"] is priority
    assert check({"priority": priority})["priority"] is priority


@pytest.mark.parametrize("priority", ["HIGH", "critical", "", None, 3, ["high"]])
def test_bad_priority_rejected(priority: object) -> None:
    assert rejected_field({"priority": priority}) == "priority"


def test_assignee_may_be_uuid_or_none() -> None:
    uid = uuid4()
    assert check({"assignee_id": uid}) == {"assignee_id": uid}
    assert check({"assignee_id": None}) == {"assignee_id": None}


@pytest.mark.parametrize("assignee", ["not-a-uuid", 42, str(UUID(int=7)), b"x" * 16])
def test_assignee_must_be_a_uuid(assignee: object) -> None:
    assert rejected_field({"assignee_id": assignee}) == "assignee_id"


# -- new_task ---------------------------------------------------------------------


def create(fields: dict[str, Any], number: int = 42, **kw: Any) -> Task:
    args: dict[str, Any] = {
        "id": uuid4(),
        "org_id": uuid4(),
        "project_id": uuid4(),
        "project_key": "WEB",
        "number": number,
        "reporter_id": uuid4(),
        "fields": fields,
        "statuses": STATUSES,
        "now": T0,
    }
    args.update(kw)
    return new_task(**args)


def test_new_task_defaults() -> None:
    reporter = uuid4()
    task = create({"title": "  Write tests "}, number=42, reporter_id=reporter)
    assert task.key == "WEB-42"
    assert task.number == 42
    assert task.title == "Write tests"
    assert task.description == ""
    assert task.status == STATUSES[0]
    assert task.priority is Priority.NONE
    assert task.assignee_id is None
    assert task.reporter_id == reporter
    assert task.version == 1
    assert task.created_at == task.updated_at == T0


def test_new_task_uses_given_fields() -> None:
    assignee = uuid4()
    task = create(
        {
            "title": "t",
            "description": "body",
            "status": "done",
            "priority": "urgent",
            "assignee_id": assignee,
        },
        number=1,
        project_key="OPS",
    )
    assert task.key == "OPS-1"
    assert (task.description, task.status, task.priority, task.assignee_id) == (
        "body",
        "done",
        Priority.URGENT,
        assignee,
    )


def test_new_task_status_default_follows_project_workflow() -> None:
    task = create({"title": "t"}, statuses=("backlog", "todo"))
    assert task.status == "backlog"


@pytest.mark.parametrize("fields", [{}, {"description": "no title"}])
def test_new_task_requires_title(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as info:
        create(fields)
    assert offending_field(info.value) == "title"


def test_new_task_rejects_invalid_fields() -> None:
    with pytest.raises(InvalidInput) as info:
        create({"title": "t", "status": "nope"})
    assert offending_field(info.value) == "status"
    with pytest.raises(InvalidInput) as info:
        create({"title": "t", "version": 9})
    assert offending_field(info.value) == "version"


# -- changed_task -----------------------------------------------------------------


def update(
    task: Task, changes: dict[str, Any], if_match: int | None = None, now: datetime = T1
) -> tuple[Task, dict[str, Any]]:
    return changed_task(task, changes, if_match=if_match, statuses=STATUSES, now=now)


def test_update_changes_only_given_fields_and_bumps_version_once() -> None:
    task = make_task(status="todo", version=3)
    updated, diff = update(task, {"title": "New title", "status": "doing"})
    assert diff == {"title": "New title", "status": "doing"}
    assert updated.version == 4
    assert updated.updated_at == T1
    assert updated.created_at == task.created_at
    assert updated.title == "New title"
    assert updated.status == "doing"
    unchanged = {"id", "key", "number", "description", "priority", "assignee_id", "reporter_id"}
    for name in unchanged:
        assert getattr(updated, name) == getattr(task, name)


def test_diff_holds_only_really_changed_fields() -> None:
    task = make_task(title="Same", status="todo", priority=Priority.LOW)
    updated, diff = update(task, {"title": "Same", "status": "done", "priority": "low"})
    assert diff == {"status": "done"}
    assert updated.version == task.version + 1


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"title": "Same"},
        {"title": "  Same  "},  # equal after normalisation
        {"priority": "none"},
        {"priority": Priority.NONE},
        {"description": None},  # None is "" and the description is ""
        {"status": "todo", "assignee_id": None},
    ],
)
def test_noop_update_keeps_task_and_version(changes: dict[str, object]) -> None:
    task = make_task(title="Same", status="todo", description="", version=5)
    updated, diff = update(task, changes, if_match=5)
    assert diff == {}
    assert updated == task
    assert updated.version == 5
    assert updated.updated_at == task.updated_at


def test_successive_updates_bump_version_by_one_each() -> None:
    task = make_task(version=1, status="todo")
    for i, status in enumerate(["doing", "done", "todo"], start=2):
        task, diff = update(task, {"status": status}, if_match=i - 1)
        assert diff == {"status": status}
        assert task.version == i


@pytest.mark.parametrize("stale", [1, 2, 4, 100, 0])
def test_stale_if_match_raises_with_current_version(stale: int) -> None:
    task = make_task(version=3)
    with pytest.raises(PreconditionFailed) as info:
        update(task, {"title": "x"}, if_match=stale)
    assert info.value.current_version == 3
    assert info.value.status == 412


def test_stale_if_match_fails_even_for_a_noop() -> None:
    task = make_task(version=3)
    with pytest.raises(PreconditionFailed):
        update(task, {}, if_match=2)


def test_matching_or_absent_if_match_is_accepted() -> None:
    task = make_task(version=3, title="a")
    assert update(task, {"title": "b"}, if_match=3)[0].version == 4
    assert update(task, {"title": "b"}, if_match=None)[0].version == 4


def test_invalid_change_raises_and_leaves_task_alone() -> None:
    task = make_task(version=2, status="todo")
    before = dataclasses.asdict(task)
    with pytest.raises(InvalidInput) as info:
        update(task, {"status": "bogus"})
    assert offending_field(info.value) == "status"
    with pytest.raises(InvalidInput) as info:
        update(task, {"version": 10})
    assert offending_field(info.value) == "version"
    assert dataclasses.asdict(task) == before


def test_assignee_can_be_set_and_cleared() -> None:
    user = uuid4()
    task = make_task(status="todo")
    assigned, diff = update(task, {"assignee_id": user})
    assert diff == {"assignee_id": user}
    cleared, diff = update(assigned, {"assignee_id": None})
    assert diff == {"assignee_id": None}
    assert cleared.assignee_id is None
    assert cleared.version == task.version + 2


# -- as_json ----------------------------------------------------------------------


def test_as_json_has_the_public_field_set() -> None:
    body = make_task().as_json()
    # the API's response model is the contract
    assert set(body) == set(TaskOut.model_fields)
    assert "org_id" not in body
    assert "number" not in body


def test_as_json_types_and_orjson_round_trip() -> None:
    assignee = uuid4()
    task = make_task(priority=Priority.HIGH, assignee_id=assignee, description="ünïcode ✓")
    body = task.as_json()
    assert orjson.loads(orjson.dumps(body)) == body
    assert body["id"] == str(task.id)
    assert body["project_id"] == str(task.project_id)
    assert body["reporter_id"] == str(task.reporter_id)
    assert body["assignee_id"] == str(assignee)
    assert body["priority"] == "high"
    assert type(body["priority"]) is str
    assert body["version"] == 1
    assert type(body["version"]) is int
    assert datetime.fromisoformat(body["created_at"]) == task.created_at
    assert datetime.fromisoformat(body["updated_at"]) == task.updated_at
    assert body["key"] == task.key
    out = TaskOut.model_validate(body)
    assert out.id == task.id
    assert out.assignee_id == assignee


def test_as_json_unassigned_is_null() -> None:
    assert make_task(assignee_id=None).as_json()["assignee_id"] is None
