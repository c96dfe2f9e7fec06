"""The filter language's parser: a table of queries and trees, error positions,
and printing then re-parsing any tree gives the same tree."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.filters import (
    And,
    Field,
    FilterSyntaxError,
    Node,
    Not,
    Op,
    Or,
    Query,
    Sort,
    SortKey,
    Text,
    combine,
    parse,
    print_query,
)


def F(name: str, value: str, op: Op = Op.EQ) -> Field:
    return Field(name, op, value)


TABLE: list[tuple[str, Query]] = [
    ("", Query()),
    ("   ", Query()),
    ("bug", Query(Text("bug"))),
    ('"login page"', Query(Text("login page", phrase=True))),
    ("assignee:me", Query(F("assignee", "me"))),
    ("assignee:me,status:open", Query(And((F("assignee", "me"), F("status", "open"))))),
    ("Status:Open", Query(F("status", "Open"))),
    ("label:backend bug", Query(And((F("label", "backend"), Text("bug"))))),
    ("a AND b", Query(And((Text("a"), Text("b"))))),
    ("a OR b c", Query(Or((Text("a"), And((Text("b"), Text("c"))))))),
    ("(a OR b) c", Query(And((Or((Text("a"), Text("b"))), Text("c"))))),
    ("NOT label:x", Query(Not(F("label", "x")))),
    ("-label:x", Query(Not(F("label", "x")))),
    ("NOT NOT a", Query(Not(Not(Text("a"))))),
    ("a OR (b OR c)", Query(Or((Text("a"), Text("b"), Text("c"))))),
    ("created:>2026-01-01", Query(F("created", "2026-01-01", Op.GT))),
    ("updated:<7d", Query(F("updated", "7d", Op.LT))),
    ("priority:>=high", Query(F("priority", "high", Op.GE))),
    ("due:overdue is:unassigned", Query(And((F("due", "overdue"), F("is", "unassigned"))))),
    ('label:"needs review"', Query(F("label", "needs review"))),
    ("has:attachments", Query(F("has", "attachments"))),
    ("project:WEB sprint:current", Query(And((F("project", "WEB"), F("sprint", "current"))))),
    ("key:WEB-12", Query(F("key", "WEB-12"))),
    ("sort:updated-desc", Query(None, Sort(SortKey.UPDATED, True))),
    ("bug sort:created-asc", Query(Text("bug"), Sort(SortKey.CREATED, False))),
    ("and or not", Query(And((Text("and"), Text("or"), Text("not"))))),
    ("10:30", Query(Text("10:30"))),
    ('"say \\"hi\\""', Query(Text('say "hi"', phrase=True))),
]


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t for t, _ in TABLE])
def test_parses_to_the_expected_tree(text: str, expected: Query) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "_"), TABLE, ids=[t for t, _ in TABLE])
def test_printing_a_parsed_query_round_trips(text: str, _: Query) -> None:
    parsed = parse(text)
    assert parse(print_query(parsed)) == parsed


ERRORS = [
    ("(a", 0, "never closed"),
    ("a)", 1, "no '(' is open"),
    ("a OR", 4, "query ends"),
    ("AND a", 0, "unexpected AND"),
    ("status:", 7, "expects a value"),
    ('bug "abc', 4, "never closed"),
    ("foo:bar", 0, "unknown field 'foo'"),
    ("a created:>yesterday", 11, "expected a date"),
    ("priority:extreme", 9, "expected one of"),
    ("assignee:>me", 0, "does not compare"),
    ("()", 0, "empty parentheses"),
    ("NOT sort:updated-desc", 9, "cannot be negated"),
    ("sort:updated-desc sort:created-asc", 23, "only once"),
    ("sort:sideways", 5, "expected one of"),
    ("(" * 40 + "a", 32, "nested"),
    ("x" * 2001, 2000, "longer than"),
]


@pytest.mark.parametrize(("text", "position", "message"), ERRORS, ids=[e[0][:30] for e in ERRORS])
def test_syntax_errors_point_at_their_position(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    assert info.value.position == position
    assert message in info.value.detail
    assert info.value.status == 400
    assert info.value.extra() == {"position": position, "query": text}


def test_the_error_survives_pickle() -> None:
    error = FilterSyntaxError("bad (at position 3)", 3, "abc(")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.detail, copy.position, copy.query) == (error.detail, 3, "abc(")


def test_combine_ands_conditions_and_keeps_the_first_sort() -> None:
    combined = combine(parse("bug sort:created-asc"), parse("assignee:me,status:open"))
    assert combined == Query(
        And((Text("bug"), F("assignee", "me"), F("status", "open"))),
        Sort(SortKey.CREATED, False),
    )
    assert combine(Query(), Query()) == Query()


# -- property: print ∘ parse is the identity on trees -------------------------------

_WORD = st.from_regex(r"[a-z0-9][a-z0-9._@'!?]{0,8}", fullmatch=True).filter(
    lambda w: w not in ("and", "or", "not")
)
_PHRASE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
).filter(lambda s: s.strip() != "")
_FIELDS = st.sampled_from(
    [
        F("assignee", "me"),
        F("assignee", "none"),
        F("status", "open"),
        F("status", "In Progress"),
        F("priority", "high", Op.GE),
        F("label", "needs review"),
        F("label", 'odd "quoted" label'),
        F("project", "WEB"),
        F("sprint", "current"),
        F("created", "2026-01-01", Op.GT),
        F("updated", "7d", Op.LT),
        F("due", "overdue"),
        F("is", "unassigned"),
        F("has", "attachments"),
        F("key", "WEB-12"),
    ]
)
_LEAVES = st.one_of(_WORD.map(Text), _PHRASE.map(lambda p: Text(p, phrase=True)), _FIELDS)


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    flat: list[Node] = []
    for c in children:
        flat.extend(c.children if isinstance(c, kind) else [c])
    return kind(tuple(flat))


_NODES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=4).map(lambda cs: _flat(And, cs)),
        st.lists(inner, min_size=2, max_size=4).map(lambda cs: _flat(Or, cs)),
    ),
    max_leaves=12,
)
_SORTS = st.none() | st.sampled_from(
    [Sort(SortKey.RELEVANCE), Sort(SortKey.UPDATED, True), Sort(SortKey.DUE, False)]
)


@settings(max_examples=200, deadline=None)
@given(node=_NODES, sort=_SORTS)
def test_printing_then_parsing_any_tree_gives_it_back(node: Node, sort: Sort | None) -> None:
    query = Query(node, sort)
    assert parse(print_query(query)) == query
