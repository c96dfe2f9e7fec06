"""Custom field definitions and values: every type's checks, defaults, required
fields, renames that keep ids, and the limits."""

from __future__ import annotations

import pytest

from domain.custom_fields import (
    MAX_FIELDS,
    FieldDef,
    changed_definition,
    new_definition,
    values_after,
)
from domain.errors import InvalidInput


def _field(**raw: object) -> FieldDef:
    return new_definition(raw, [])


SEVERITY = _field(
    name="Severity", type="single_select", options=["Low", {"name": "High", "color": "#FF0000"}]
)


@pytest.mark.parametrize(
    ("kind", "good", "stored", "bad"),
    [
        ("text", "hello", "hello", 3),
        ("number", 2.5, 2.5, "2.5"),
        ("number", 3, 3, True),
        ("date", "2026-12-31", "2026-12-31", "31/12/2026"),
        (
            "user",
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000001",
            "bob",
        ),
        ("url", "https://example.com/x", "https://example.com/x", "javascript:alert(1)"),
        ("checkbox", False, False, "no"),
    ],
)
def test_each_type_accepts_its_values_and_names_the_field_otherwise(
    kind: str, good: object, stored: object, bad: object
) -> None:
    field = _field(name="F", type=kind)
    assert values_after([field], {}, {"F": good}, creating=True) == {field.id: stored}
    with pytest.raises(InvalidInput) as error:
        values_after([field], {}, {field.id: bad}, creating=True)
    assert "custom_fields.F" in str(error.value.as_json())


def test_selects_store_option_ids_and_accept_names() -> None:
    low, high = SEVERITY.options
    assert (high.name, high.color) == ("High", "#ff0000")
    assert values_after([SEVERITY], {}, {"Severity": "high"}, creating=True) == {
        SEVERITY.id: high.id
    }
    assert values_after([SEVERITY], {}, {"severity": low.id}, creating=True) == {
        SEVERITY.id: low.id
    }
    with pytest.raises(InvalidInput, match="not an option"):
        values_after([SEVERITY], {}, {"Severity": "Critical"}, creating=True)
    tags = _field(name="Tags", type="multi_select", options=["a", "b"])
    a, b = tags.options
    assert values_after([tags], {}, {"Tags": ["a", "B", "a"]}, creating=True) == {
        tags.id: [a.id, b.id]
    }


def test_defaults_fill_new_tasks_and_required_fields_must_be_set() -> None:
    severity = changed_definition(SEVERITY, {"default": "Low", "required": True}, [SEVERITY])
    assert values_after([severity], {}, None, creating=True) == {
        severity.id: severity.options[0].id
    }
    points = _field(name="Points", type="number", required=True)
    with pytest.raises(InvalidInput, match="required"):
        values_after([points], {}, {}, creating=True)
    # An update that does not touch a required field does not trip over it...
    assert values_after([points], {}, {}, creating=False) == {}
    # ...but clearing it does.
    with pytest.raises(InvalidInput, match="required"):
        values_after([points], {points.id: 3}, {"Points": None}, creating=False)


def test_null_clears_and_unknown_fields_are_refused() -> None:
    assert values_after([SEVERITY], {SEVERITY.id: "x"}, {"Severity": None}, creating=False) == {}
    with pytest.raises(InvalidInput, match="no such field"):
        values_after([SEVERITY], {}, {"Colour": "red"}, creating=False)
    with pytest.raises(InvalidInput):
        values_after([SEVERITY], {}, ["Severity"], creating=False)


def test_renames_keep_ids_and_types_never_change() -> None:
    low, high = SEVERITY.options
    renamed = changed_definition(
        SEVERITY,
        {
            "name": "Impact",
            "options": [{"id": low.id, "name": "Minor"}, {"id": high.id, "name": "Major"}],
        },
        [SEVERITY],
    )
    assert renamed.id == SEVERITY.id and renamed.name == "Impact"
    assert [(o.id, o.name) for o in renamed.options] == [(low.id, "Minor"), (high.id, "Major")]
    with pytest.raises(InvalidInput, match="cannot change"):
        changed_definition(SEVERITY, {"type": "text"}, [SEVERITY])
    with pytest.raises(InvalidInput, match="no option with id"):
        changed_definition(SEVERITY, {"options": [{"id": "nope", "name": "x"}]}, [SEVERITY])


def test_definitions_are_checked() -> None:
    with pytest.raises(InvalidInput, match="type"):
        new_definition({"name": "X", "type": "colour"}, [])
    with pytest.raises(InvalidInput, match="options"):
        new_definition({"name": "X", "type": "single_select"}, [])
    with pytest.raises(InvalidInput, match="only select"):
        new_definition({"name": "X", "type": "text", "options": ["a"]}, [])
    with pytest.raises(InvalidInput, match="unique"):
        new_definition({"name": "X", "type": "single_select", "options": ["a", "A"]}, [])
    with pytest.raises(InvalidInput, match="already has a field"):
        new_definition({"name": "severity", "type": "text"}, [SEVERITY])
    with pytest.raises(InvalidInput, match="not an option"):
        new_definition({"name": "X", "type": "single_select", "options": ["a"], "default": "b"}, [])
    many = [new_definition({"name": f"F{i}", "type": "text"}, []) for i in range(MAX_FIELDS)]
    with pytest.raises(InvalidInput, match=f"at most {MAX_FIELDS}"):
        new_definition({"name": "One more", "type": "text"}, many)
    assert SEVERITY.id != _field(name="Severity", type="text").id
