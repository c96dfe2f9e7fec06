"""Domain errors, commands and events are plain data that crosses Ray processes."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest

from domain import errors
from domain.commands import (
    CreateTask,
    DeleteProject,
    DeleteTask,
    IdempotencyKey,
    Reply,
    UpdateProject,
    UpdateTask,
)
from domain.errors import (
    DomainError,
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from domain.events import Event, EventType


def all_subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found: list[type[DomainError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_subclasses(sub))
    return found


DOMAIN_ERRORS: list[type[DomainError]] = [DomainError, *all_subclasses(DomainError)]


def test_the_documented_error_family_is_complete() -> None:
    names = {cls.__name__ for cls in DOMAIN_ERRORS}
    assert {
        "NotFound",
        "Unauthenticated",
        "Conflict",
        "PreconditionFailed",
        "InvalidInput",
        "Unavailable",
    } <= names


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.NotFound, 404),
        (errors.Unauthenticated, 401),
        (errors.Conflict, 409),
        (errors.PreconditionFailed, 412),
        (errors.InvalidInput, 422),
        (errors.Unavailable, 503),
    ],
)
def test_http_status_of_each_error(cls: type[DomainError], status: int) -> None:
    assert cls.status == status
    assert issubclass(cls, DomainError)
    assert cls.title


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("protocol", [pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_every_domain_error_survives_pickle(cls: type[DomainError], protocol: int) -> None:
    error = cls("something went wrong: ünïcode")
    copy = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(copy) is cls
    assert copy.detail == "something went wrong: ünïcode"
    assert str(copy) == str(error)
    assert copy.status == cls.status
    assert copy.title == cls.title


def test_precondition_failed_keeps_current_version_through_pickle() -> None:
    copy = pickle.loads(pickle.dumps(PreconditionFailed("stale", current_version=7)))
    assert copy.current_version == 7
    assert copy.detail == "stale"
    assert pickle.loads(pickle.dumps(PreconditionFailed("x"))).current_version is None


def test_invalid_input_keeps_field_errors_through_pickle() -> None:
    fe = (
        FieldError(("body", "title"), "too long"),
        FieldError(("body", "tags", 2), "bad", "type_error"),
    )
    copy = pickle.loads(pickle.dumps(InvalidInput("two problems", fe)))
    assert copy.errors == fe
    assert copy.detail == "two problems"
    field = pickle.loads(pickle.dumps(InvalidInput.field("status", "unknown")))
    assert field.errors == (FieldError(("body", "status"), "unknown"),)
    assert "status" in field.detail


def test_errors_survive_pickle_after_being_raised() -> None:
    try:
        raise NotFound("task not found")
    except NotFound as exc:
        copy = pickle.loads(pickle.dumps(exc))
    assert isinstance(copy, NotFound)
    assert copy.detail == "task not found"


def test_field_error_as_json() -> None:
    fe = FieldError(("body", "tags", 2), "bad tag")
    body = fe.as_json()
    assert body == {"loc": ["body", "tags", 2], "msg": "bad tag", "type": "value_error"}
    assert orjson.loads(orjson.dumps(body)) == body


def test_commands_and_replies_survive_pickle() -> None:
    actor = uuid4()
    key = IdempotencyKey(uuid4(), actor, "k-1", "abc")
    commands = [
        CreateTask(actor, {"title": "t"}, key),
        UpdateTask(actor, uuid4(), {"status": "done"}, if_match=3),
        DeleteTask(actor, uuid4(), if_match=None),
        UpdateProject(actor, {"name": "n"}),
        DeleteProject(actor),
        Reply(201, {"id": "x"}, replayed=True),
    ]
    for command in commands:
        assert pickle.loads(pickle.dumps(command)) == command


# -- events -----------------------------------------------------------------------


def make_event(**kw: object) -> Event:
    values: dict[str, object] = {
        "project_id": uuid4(),
        "version": 12,
        "type": EventType.TASK_UPDATED,
        "actor_id": uuid4(),
        "task_id": uuid4(),
        "payload": {"changes": {"title": "ñew"}, "version": 3, "list": [1, None, True]},
        "created_at": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    }
    values.update(kw)
    return Event(**values)  # type: ignore[arg-type]


def test_event_as_json_round_trips_through_orjson() -> None:
    event = make_event()
    body = event.as_json()
    assert orjson.loads(orjson.dumps(body)) == body
    assert body == {
        "project_id": str(event.project_id),
        "version": 12,
        "event": "task.updated",
        "actor_id": str(event.actor_id),
        "task_id": str(event.task_id),
        "payload": event.payload,
        "created_at": "2024-05-06T07:08:09.123456+00:00",
    }
    assert datetime.fromisoformat(body["created_at"]) == event.created_at


@pytest.mark.parametrize("type_", list(EventType))
def test_event_type_names(type_: EventType) -> None:
    body = make_event(type=type_).as_json()
    assert body["event"] == type_.value
    assert type(body["event"]) is str
    assert orjson.loads(orjson.dumps(body))["event"] == type_.value


def test_project_event_has_null_task_id() -> None:
    body = make_event(type=EventType.PROJECT_DELETED, task_id=None, payload={}).as_json()
    assert body["task_id"] is None
    assert orjson.loads(orjson.dumps(body))["task_id"] is None


def test_event_survives_pickle() -> None:
    event = make_event()
    assert pickle.loads(pickle.dumps(event)) == event
