"""The workflow engine in `domain.workflow`: validation, templates, transitions,
conditions, roles and WIP limits, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput, TransitionForbidden, WipLimitExceeded
from domain.workflow import (
    ANY,
    Category,
    TransitionFacts,
    Workflow,
    available,
    check_moves,
    check_transition,
    check_wip,
    parse_workflow,
    reachable,
)
from domain.workflow_templates import Template, template

PROPERTY = settings(database=None, deadline=None, max_examples=200)
ANYONE = TransitionFacts(role="member", assignee_set=True, estimate_set=True, subtasks_done=True)


def status(sid: str, category: str, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "name": sid.title(), "category": category, "color": "#123456", **extra}


def simple(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "statuses": [
            status("todo", "todo"),
            status("doing", "in_progress"),
            status("done", "done"),
        ],
        "transitions": [
            {"from": "todo", "to": "doing"},
            {"from": "doing", "to": "done", "conditions": ["assignee_set"]},
            {"from": "done", "to": "todo", "roles": ["admin", "owner"]},
        ],
    }
    data.update(overrides)
    return data


def bad(data: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_workflow(data, version=1)
    assert info.value.errors[0].loc == ("body", "workflow")
    return info.value.detail


# -- templates -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(Template))
def test_templates_are_valid_and_round_trip(name: Template) -> None:
    workflow = template(name)
    assert parse_workflow(workflow.as_json(), version=1) == workflow
    assert {s.category for s in workflow.statuses} == set(Category)


def test_default_is_kanban_with_any_to_any() -> None:
    workflow = template()
    assert [s.name for s in workflow.statuses] == [
        "Backlog",
        "Todo",
        "In Progress",
        "In Review",
        "Done",
    ]
    for source in workflow.ids:
        targets = [t.target for t in available(workflow, source, ANYONE)]
        assert targets == [sid for sid in workflow.ids if sid != source]
    assert all(t.source == ANY for t in workflow.transitions)


# -- validation ----------------------------------------------------------------------


def test_valid_workflow_parses_with_its_version() -> None:
    workflow = parse_workflow(simple(), version=4)
    assert workflow.version == 4
    assert workflow.ids == ("todo", "doing", "done")
    assert workflow.as_json()["transitions"][1] == {
        "from": "doing",
        "to": "done",
        "name": None,
        "roles": [],
        "conditions": ["assignee_set"],
    }


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"statuses": []}, "statuses"),
        ({"statuses": [status("a", "todo"), status("a", "done")]}, "unique"),
        ({"statuses": [status("Bad Id", "todo")]}, "slug"),
        ({"statuses": [status("todo", "todo"), status("done", "done")]}, "in_progress"),
        ({"statuses": [status("x", "nope")]}, "category"),
        ({"statuses": [status("x", "todo", color="red")]}, "color"),
        ({"statuses": [status("x", "todo", wip_limit=0)]}, "wip_limit"),
        ({"statuses": [status("x", "todo", extra=1)]}, "unknown"),
        ({"transitions": [{"from": "todo", "to": "nowhere"}]}, "nowhere"),
        ({"transitions": [{"from": "nowhere", "to": "todo"}]}, "nowhere"),
        ({"transitions": [{"from": "todo", "to": "doing", "roles": ["king"]}]}, "roles"),
        ({"transitions": [{"from": "todo", "to": "doing", "conditions": ["sunny"]}]}, "conditions"),
        ({"transitions": [{"from": "todo", "to": "doing"}] * 2}, "twice"),
        # done can never be reached: an orphan
        ({"transitions": [{"from": "todo", "to": "doing"}]}, "'done'"),
    ],
)
def test_invalid_workflows_rejected(change: dict[str, Any], needle: str) -> None:
    assert needle in bad(simple(**change))


def test_star_transition_reaches_everything() -> None:
    data = simple(transitions=[{"from": "*", "to": "done"}, {"from": "*", "to": "doing"}])
    assert reachable(parse_workflow(data, version=1)) == {"todo", "doing", "done"}


# -- transitions ---------------------------------------------------------------------


def test_allowed_transition_passes_and_same_status_is_a_noop() -> None:
    workflow = parse_workflow(simple(), version=1)
    check_transition(workflow, "todo", "doing", ANYONE)
    check_transition(workflow, "done", "done", ANYONE)


def test_forbidden_transition_lists_allowed_targets() -> None:
    workflow = parse_workflow(simple(), version=1)
    with pytest.raises(TransitionForbidden) as info:
        check_transition(workflow, "todo", "done", ANYONE)
    assert info.value.allowed == ("doing",)
    assert info.value.status == 409
    assert info.value.extra() == {"allowed": ["doing"]}


def test_condition_blocks_until_it_holds() -> None:
    workflow = parse_workflow(simple(), version=1)
    unassigned = TransitionFacts("member", False, True, True)
    with pytest.raises(TransitionForbidden) as info:
        check_transition(workflow, "doing", "done", unassigned)
    assert "assignee" in info.value.detail
    assert info.value.allowed == ()
    check_transition(workflow, "doing", "done", ANYONE)


@pytest.mark.parametrize(("role", "ok"), [("owner", True), ("admin", True), ("member", False)])
def test_roles_restrict_a_transition(role: str, ok: bool) -> None:
    workflow = parse_workflow(simple(), version=1)
    facts = TransitionFacts(role, True, True, True)
    if ok:
        check_transition(workflow, "done", "todo", facts)
    else:
        with pytest.raises(TransitionForbidden):
            check_transition(workflow, "done", "todo", facts)


def test_unknown_target_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        check_transition(template(), "todo", "nope", ANYONE)


def test_subtasks_condition() -> None:
    data = simple(
        transitions=[
            {"from": "*", "to": "doing"},
            {"from": "*", "to": "done", "conditions": ["subtasks_done"]},
            {"from": "*", "to": "todo"},
        ]
    )
    workflow = parse_workflow(data, version=1)
    with pytest.raises(TransitionForbidden):
        check_transition(workflow, "doing", "done", TransitionFacts("member", True, True, False))


# -- WIP -----------------------------------------------------------------------------


def test_wip_limit_enforced_or_warned() -> None:
    data = simple(
        statuses=[
            status("todo", "todo"),
            status("doing", "in_progress", wip_limit=2),
            status("done", "done"),
        ]
    )
    workflow = parse_workflow(data, version=1)
    assert check_wip(workflow, "doing", 2, warn_only=False) is None
    with pytest.raises(WipLimitExceeded) as info:
        check_wip(workflow, "doing", 3, warn_only=False)
    assert info.value.extra() == {"status_id": "doing", "wip_limit": 2}
    warning = check_wip(workflow, "doing", 3, warn_only=True)
    assert warning is not None and "WIP limit is 2" in warning
    assert check_wip(workflow, "todo", 100, warn_only=False) is None


# -- status removal ------------------------------------------------------------------


def test_removing_a_used_status_needs_a_target() -> None:
    old = template()
    data = old.as_json()
    data["statuses"] = [s for s in data["statuses"] if s["id"] != "in_review"]
    data["transitions"] = [t for t in data["transitions"] if t["to"] != "in_review"]
    new = parse_workflow(data, version=2)
    with pytest.raises(InvalidInput, match="in_review"):
        check_moves(old, new, {}, ["in_review", "todo"])
    assert check_moves(old, new, {"in_review": "done"}, ["in_review"]) == {"in_review": "done"}
    assert check_moves(old, new, {}, ["todo"]) == {}
    with pytest.raises(InvalidInput):
        check_moves(old, new, {"in_review": "in_review"}, ["in_review"])
    with pytest.raises(InvalidInput):
        check_moves(old, new, {"todo": "done"}, [])


# -- properties ----------------------------------------------------------------------


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    """Random valid workflows: random statuses (all categories present) and edges."""
    count = draw(st.integers(3, 7))
    ids = [f"s{i}" for i in range(count)]
    cats = [c.value for c in Category] + draw(
        st.lists(
            st.sampled_from([c.value for c in Category]), min_size=count - 3, max_size=count - 3
        )
    )
    statuses = [status(sid, cat) for sid, cat in zip(ids, cats, strict=True)]
    # a chain from the first guarantees reachability; random extra edges on top
    edges = {(ids[i], ids[i + 1]) for i in range(count - 1)}
    edges |= set(draw(st.lists(st.tuples(st.sampled_from([*ids, "*"]), st.sampled_from(ids)))))
    transitions = [
        {"from": a, "to": b, "conditions": draw(st.sampled_from([[], ["assignee_set"]]))}
        for a, b in sorted(edges)
    ]
    return parse_workflow({"statuses": statuses, "transitions": transitions}, version=1)


@PROPERTY
@given(workflows(), st.lists(st.tuples(st.integers(0, 10), st.booleans()), max_size=40))
def test_no_sequence_of_allowed_transitions_leaves_the_workflow(
    workflow: Workflow, steps: list[tuple[int, bool]]
) -> None:
    current = workflow.initial
    for pick, assigned in steps:
        facts = TransitionFacts("member", assigned, False, True)
        options = available(workflow, current, facts)
        # every option is a real transition that the engine then accepts
        for option in options:
            check_transition(workflow, current, option.target, facts)
        if not options:
            continue
        target = options[pick % len(options)].target
        assert workflow.status(target) is not None
        assert target in reachable(workflow)
        current = target
    assert workflow.category_of(current) is not None


@PROPERTY
@given(workflows(), st.sampled_from(["s0", "s1", "s2"]), st.sampled_from(["s0", "s1", "s2"]))
def test_engine_accepts_exactly_the_listed_targets(workflow: Workflow, a: str, b: str) -> None:
    allowed = {t.target for t in available(workflow, a, ANYONE)}
    try:
        check_transition(workflow, a, b, ANYONE)
        assert b in allowed or a == b
    except TransitionForbidden as error:
        assert b not in allowed
        assert set(error.allowed) == allowed
