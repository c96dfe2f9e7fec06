"""The engines' JSON codec (orjson): what it writes and reads for jsonb, where it
differs from the standard library."""

from __future__ import annotations

import json
import math
from uuid import UUID

from storage.db import json_dumps, json_loads


def test_documents_round_trip_as_the_standard_library_reads_them() -> None:
    doc = {"b": [1, 2.5, None, True], "a": {"é": "ünïcode", "n": -0.1}, "z": "x"}
    text = json_dumps(doc)
    assert isinstance(text, str)
    assert json.loads(text) == doc
    assert list(json_loads(text)) == ["b", "a", "z"]  # key order is kept
    assert json_loads(json.dumps(doc)) == doc


def test_non_string_keys_become_strings_like_json_dumps() -> None:
    assert json_loads(json_dumps({1: "a", UUID(int=1): "b"})) == {
        "1": "a",
        "00000000-0000-0000-0000-000000000001": "b",
    }


def test_nan_is_written_as_null_and_huge_integers_stay_exact() -> None:
    assert json_dumps([math.nan]) == "[null]"
    assert json_dumps({"n": 2**70}) == '{"n": 1180591620717411303424}'
    assert json_loads('{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
    assert json_loads(b"[123456789012345678901234567890]") == [123456789012345678901234567890]
