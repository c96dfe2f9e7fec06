"""Project key derivation and project field rules in `domain.projects`."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.projects import (
    DEFAULT_STATUSES,
    KEY_PATTERN,
    NAME_MAX,
    check_key,
    check_name,
    derive_key,
    statuses_from_settings,
)

PROPERTY = settings(database=None, deadline=None, max_examples=300)


def field_of(exc: InvalidInput) -> str:
    assert len(exc.errors) == 1
    assert exc.errors[0].loc[0] == "body"
    return str(exc.errors[0].loc[-1])


# -- derive_key -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        # several words: their initials
        ("Web Platform", "WP"),
        ("mobile app v2", "MAV"),
        ("big   data", "BD"),
        ("marketing-team", "MT"),
        ("x-ray", "XR"),
        ("web2print", "WP"),  # digits split words
        ("Q3 Roadmap", "QR"),
        ("a b c d e f g h i j k l m", "ABCDEFGHIJ"),  # capped at 10
        # one word: its first four letters
        ("Marketing", "MARK"),
        ("ops", "OPS"),
        ("Go", "GO"),
        ("  Infrastructure!!  ", "INFR"),
        ("2024 Budget", "BUDG"),
        # too short or no letters at all: padded with X
        ("a", "AX"),
        ("Q", "QX"),
        ("7 a", "AX"),
        ("", "XX"),
        ("   ", "XX"),
        ("123 !!! 456", "XX"),
        ("日本語", "XX"),
    ],
)
def test_derive_key_table(name: str, key: str) -> None:
    assert derive_key(name) == key


@PROPERTY
@given(st.text())
def test_derived_key_always_valid(name: str) -> None:
    key = derive_key(name)
    assert KEY_PATTERN.fullmatch(key), key
    assert 2 <= len(key) <= 10
    assert check_key(key) == key
    assert derive_key(name) == key  # deterministic


WORD = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
SEPARATOR = st.text(alphabet=" -_.,/0123456789", min_size=1, max_size=3)


@settings(database=None, deadline=None, max_examples=100)
@given(st.lists(WORD, min_size=2, max_size=20), SEPARATOR)
def test_derived_key_of_several_words_is_their_initials(words: list[str], sep: str) -> None:
    name = sep.join(words)
    assert derive_key(name) == "".join(w[0] for w in words).upper()[:10]


# -- check_key --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["AB", "WEB", "ABCDEFGHIJ"])
def test_valid_key_accepted(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "A",
        "ABCDEFGHIJK",
        "web",
        "Web",
        "W3B",
        "WE B",
        "WEB-",
        "WÉB",
        " WEB",
        "\uff37\uff25\uff22",  # fullwidth "WEB"
    ],
)
def test_invalid_key_rejected(key: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_key(key)
    assert field_of(info.value) == "key"


def test_key_with_trailing_newline_rejected() -> None:
    with pytest.raises(InvalidInput):
        check_key("AB\n")


# -- check_name -------------------------------------------------------------------


def test_name_is_stripped() -> None:
    assert check_name("  Web Platform \n") == "Web Platform"


@pytest.mark.parametrize("name", ["", " ", "\t\n"])
def test_blank_name_rejected(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_name(name)
    assert field_of(info.value) == "name"


def test_name_length_limit() -> None:
    assert check_name("n" * NAME_MAX) == "n" * NAME_MAX
    with pytest.raises(InvalidInput) as info:
        check_name("n" * (NAME_MAX + 1))
    assert field_of(info.value) == "name"


# -- statuses_from_settings -------------------------------------------------------


@pytest.mark.parametrize("settings_", [{}, {"statuses": None}, {"color": "red"}])
def test_default_statuses(settings_: dict[str, Any]) -> None:
    assert statuses_from_settings(settings_) == DEFAULT_STATUSES
    assert DEFAULT_STATUSES[0] == "open"


@pytest.mark.parametrize("statuses", [["todo"], ["backlog", "todo", "done"], ["ünïcode", "a b"]])
def test_custom_statuses_kept_in_order(statuses: list[str]) -> None:
    assert statuses_from_settings({"statuses": statuses}) == tuple(statuses)


@pytest.mark.parametrize(
    "statuses",
    [
        [],
        "open",
        {"open": 1},
        5,
        ["open", "open"],
        ["open", ""],
        ["open", "   "],
        ["open", 3],
        ["open", None],
        [["open"]],
    ],
)
def test_invalid_statuses_rejected(statuses: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        statuses_from_settings({"statuses": statuses})
    assert field_of(info.value) == "settings"
