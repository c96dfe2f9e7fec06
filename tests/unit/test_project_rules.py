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
    check_settings,
    derive_key,
)
from domain.workflow_templates import LEGACY_STATUSES, from_status_list

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


# -- settings and pre-workflow status lists ----------------------------------------


@pytest.mark.parametrize("settings_", [{}, {"color": "red"}, {"wip_mode": "warn"}])
def test_settings_kept(settings_: dict[str, Any]) -> None:
    assert check_settings(settings_) == settings_


def test_default_statuses_are_the_kanban_template() -> None:
    assert DEFAULT_STATUSES == ("backlog", "todo", "in_progress", "in_review", "done")


@pytest.mark.parametrize(
    "settings_",
    [
        {"statuses": ["todo", "done"]},
        {"wip_mode": "ignore"},
        {"parallel_sprints": "yes"},
    ],
)
def test_invalid_settings_rejected(settings_: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as info:
        check_settings(settings_)
    assert field_of(info.value) == "settings"


@pytest.mark.parametrize(
    "statuses", [["todo"], ["backlog", "todo", "done"], list(LEGACY_STATUSES), ["a", "b"]]
)
def test_legacy_status_lists_become_valid_workflows_in_order(statuses: list[str]) -> None:
    from domain.workflow import parse_workflow

    workflow = from_status_list(statuses)
    assert workflow.ids[: len(statuses) - 1] == tuple(statuses[:-1]) or workflow.ids[0] == "todo"
    assert statuses[0] == workflow.initial
    assert parse_workflow(workflow.as_json(), version=1) == workflow
