"""The websocket protocol's validation, and its documentation staying true."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from realtime.protocol import CLIENT_SCHEMAS, ProtocolError, validate

DOC = Path(__file__).parents[2] / "docs" / "realtime.md"


def test_documented_schemas_equal_the_enforced_ones() -> None:
    text = DOC.read_text()
    documented = {}
    for name, body in re.findall(r"### `(\w+)`\n\n```json\n(.*?)\n```", text, re.S):
        documented[name] = json.loads(body)
    assert documented == CLIENT_SCHEMAS


@pytest.mark.parametrize(
    "message",
    [
        {"type": "auth", "token": "t"},
        {"type": "subscribe", "project_id": str(uuid.uuid4())},
        {"type": "subscribe", "project_id": str(uuid.uuid4()), "since": 0},
        {"type": "unsubscribe", "project_id": str(uuid.uuid4())},
        {"type": "presence", "project_id": str(uuid.uuid4()), "task_id": None},
        {"type": "presence", "project_id": str(uuid.uuid4()), "task_id": str(uuid.uuid4())},
        {"type": "ping"},
    ],
)
def test_valid_messages_pass(message: dict[str, object]) -> None:
    assert validate(message) == message


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ([], "JSON object"),
        ({"kind": "ping"}, "JSON object"),
        ({"type": "dance"}, "unknown message type"),
        ({"type": "auth"}, "token"),
        ({"type": "auth", "token": ""}, "token"),
        ({"type": "subscribe", "project_id": "nope"}, "project_id"),
        ({"type": "subscribe", "project_id": str(uuid.uuid4()), "since": -1}, "since"),
        ({"type": "subscribe", "project_id": str(uuid.uuid4()), "since": "3"}, "since"),
        ({"type": "ping", "extra": 1}, "extra"),
    ],
)
def test_invalid_messages_say_what_is_wrong(message: object, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        validate(message)
