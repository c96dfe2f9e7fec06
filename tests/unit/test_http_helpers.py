"""Pure HTTP helpers: If-Match, cursors, idempotency keys, request hashes and
documents joined from encoded members."""

from __future__ import annotations

import base64
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.commands import IdempotencyKey
from domain.errors import InvalidInput
from serve_app.idempotency import MAX_KEY_LENGTH, key_for, request_hash
from serve_app.responses import (
    decode_cursor,
    encode_cursor,
    etag,
    json_document,
    parse_if_match,
)
from serve_app.security import Principal

PROPERTY = settings(database=None, deadline=None, max_examples=200)
JSON_PROPERTY = settings(database=None, deadline=None, max_examples=60)

# -- If-Match ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ('"3"', 3),
        ('W/"3"', 3),
        ("3", 3),
        (' "3" ', 3),
        ('"0"', 0),
        ('"123456789012345678"', 123456789012345678),
    ],
)
def test_if_match_versions(header: str, version: int) -> None:
    assert parse_if_match(header) == version


@pytest.mark.parametrize("header", [None, "*", " * "])
def test_if_match_absent_or_star_is_no_precondition(header: str | None) -> None:
    assert parse_if_match(header) is None


@pytest.mark.parametrize(
    "header",
    ["", '""', "abc", '"abc"', '"-1"', '"3.0"', '"3", "4"', "W/", '"1e3"', "0x10", '"3 "', "+3"],
)
def test_if_match_garbage_is_invalid_input(header: str) -> None:
    with pytest.raises(InvalidInput):
        parse_if_match(header)


@pytest.mark.parametrize("version", [0, 1, 42, 10**6])
def test_if_match_accepts_our_own_etag(version: int) -> None:
    assert parse_if_match(etag(version)) == version
    assert parse_if_match("W/" + etag(version)) == version


@pytest.mark.parametrize("header", ['"\u00b2"', '"1\u00b3"', '"' + "9" * 5000 + '"'])
def test_if_match_digit_lookalikes_and_huge_numbers_are_invalid_input(header: str) -> None:
    with pytest.raises(InvalidInput):
        parse_if_match(header)


# -- cursors ----------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PAYLOADS = st.dictionaries(st.text(max_size=8), JSON, max_size=4)


def test_cursor_examples_round_trip() -> None:
    payloads: list[dict[str, Any]] = [
        {},
        {"p": str(uuid4()), "a": 50},
        {"c": "2024-01-01T00:00:00+00:00", "i": "x"},
    ]
    for payload in payloads:
        cursor = encode_cursor(payload)
        assert decode_cursor(cursor) == payload
        # URL-safe and unpadded: it goes into a query string as is
        assert "=" not in cursor
        assert set(cursor) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


@JSON_PROPERTY
@given(PAYLOADS)
def test_cursor_round_trip(payload: dict[str, Any]) -> None:
    assert decode_cursor(encode_cursor(payload)) == payload


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "a",  # impossible base64 length
        "abcde",
        "not a cursor",
        encode_cursor({"a": 1})[:-3],  # truncated
        "bnVsbA",  # base64 of JSON null
        "WzEsMl0",  # base64 of [1,2]
        "IngiCg",  # base64 of a JSON string
        "MTIz",  # base64 of 123
        "_w",  # base64 of an invalid UTF-8 byte
        "é",
        "\ud800",
    ],
)
def test_garbage_cursor_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)


@PROPERTY
@given(st.text())
def test_any_text_decodes_to_a_dict_or_invalid_input(cursor: str) -> None:
    try:
        decoded = decode_cursor(cursor)
    except InvalidInput:
        return
    assert isinstance(decoded, dict)


@PROPERTY
@given(st.binary())
def test_any_bytes_as_cursor_decode_to_a_dict_or_invalid_input(raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    try:
        decoded = decode_cursor(cursor)
    except InvalidInput:
        return
    assert isinstance(decoded, dict)


# -- documents joined from encoded members -----------------------------------------


@given(
    st.lists(st.dictionaries(st.text(), st.integers(-(2**63), 2**63 - 1) | st.text() | st.none())),
    st.none() | st.text(),
)
@JSON_PROPERTY
def test_json_document_is_the_encoded_object(items: list[dict[str, Any]], cursor: Any) -> None:
    joined = json_document(items=orjson.dumps(items), next_cursor=orjson.dumps(cursor))
    assert joined == orjson.dumps({"items": items, "next_cursor": cursor})
    assert json_document() == b"{}"


# -- request_hash -----------------------------------------------------------------


def test_request_hash_stable_under_key_order() -> None:
    a = {"title": "t", "meta": {"x": 1, "y": [1, {"b": 2, "a": 1}]}, "priority": "low"}
    b = {"priority": "low", "meta": {"y": [1, {"a": 1, "b": 2}], "x": 1}, "title": "t"}
    assert list(a) != list(b)
    assert request_hash("POST", "/api/v1/tasks", a) == request_hash("POST", "/api/v1/tasks", b)


@JSON_PROPERTY
@given(PAYLOADS, st.randoms(use_true_random=False))
def test_request_hash_ignores_key_order(body: dict[str, Any], rnd: Any) -> None:
    items = list(body.items())
    rnd.shuffle(items)
    assert request_hash("POST", "/p", dict(items)) == request_hash("POST", "/p", body)


def test_request_hash_depends_on_body_method_and_path() -> None:
    base = request_hash("POST", "/api/v1/tasks", {"title": "a"})
    assert len(base) == 64
    assert int(base, 16) >= 0
    others = [
        request_hash("POST", "/api/v1/tasks", {"title": "b"}),
        request_hash("POST", "/api/v1/tasks", {"title": "a", "priority": "low"}),
        request_hash("POST", "/api/v1/tasks", {"Title": "a"}),
        request_hash("POST", "/api/v1/tasks", None),
        request_hash("PUT", "/api/v1/tasks", {"title": "a"}),
        request_hash("POST", "/api/v1/projects", {"title": "a"}),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


@JSON_PROPERTY
@given(PAYLOADS, PAYLOADS)
def test_request_hash_differs_for_different_bodies(a: dict[str, Any], b: dict[str, Any]) -> None:
    same = orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )
    assert (request_hash("POST", "/p", a) == request_hash("POST", "/p", b)) == same


# -- key_for ----------------------------------------------------------------------

PRINCIPAL = Principal(user_id=uuid4(), org_id=uuid4())


def make_key(header: str | None, body: Any = None) -> IdempotencyKey:
    return key_for(PRINCIPAL, header, method="POST", path="/api/v1/tasks", body=body)


@pytest.mark.parametrize("header", ["abc", "~looks-generated", "x", "k" * MAX_KEY_LENGTH, "ключ 1"])
def test_client_key_is_kept(header: str) -> None:
    key = make_key(header, {"title": "t"})
    assert key.key == header
    assert key.org_id == PRINCIPAL.org_id
    assert key.user_id == PRINCIPAL.user_id
    assert key.request_hash == request_hash("POST", "/api/v1/tasks", {"title": "t"})


def test_generated_keys_are_marked_and_unique() -> None:
    keys = {make_key(None).key for _ in range(1_000)}
    assert len(keys) == 1_000
    for key in keys:
        assert key.startswith("~")
        assert 1 < len(key) <= MAX_KEY_LENGTH
        assert key.isprintable()


def test_generated_key_still_hashes_the_request() -> None:
    key = make_key(None, {"title": "t"})
    assert key.request_hash == request_hash("POST", "/api/v1/tasks", {"title": "t"})
    assert key.user_id == PRINCIPAL.user_id


@pytest.mark.parametrize(
    "header",
    ["", "k" * (MAX_KEY_LENGTH + 1), "line\nbreak", "tab\there", "nul\x00", "del\x7f", "\x1b[31m"],
)
def test_bad_client_key_rejected(header: str) -> None:
    with pytest.raises(InvalidInput):
        make_key(header)
