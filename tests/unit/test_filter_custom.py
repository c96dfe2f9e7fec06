"""Custom fields in the filter language: parsing, printing, resolving, and the
in-memory evaluation and the Tantivy index agreeing on the same tasks (the index
lives in a temporary directory; SQL is checked in tests/integration)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tantivy import Occur, Query

from domain.automation import check_condition
from domain.custom_fields import FieldDef, FieldType, Option
from domain.filters import (
    And,
    CustomField,
    Field,
    FilterSyntaxError,
    HasCustom,
    Not,
    Op,
    Or,
    Scope,
    ScopedField,
    Sort,
    SortKey,
    TaskFacts,
    Text,
    matches,
    parse,
    print_query,
    resolve,
)
from domain.filters.ast import Query as FilterQuery
from domain.filters.custom import sort_value
from domain.filters.predicates import AllOf, CustomIs, CustomRange, Match, NoneOf
from search import index as search_index
from search.index import TaskIndex
from search.query import translate
from search.schema import IndexedTask, stem

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ME, ANN = uuid4(), uuid4()
ORG, WEB, OPS = uuid4(), uuid4(), uuid4()

HIGH, LOW = Option("o-high", "High"), Option("o-low", "Low")
SEV = FieldDef("f-sev", "Severity", FieldType.SINGLE_SELECT, options=(HIGH, LOW))
PTS = FieldDef("f-pts", "Story points", FieldType.NUMBER)
DUE = FieldDef("f-due", "Ship", FieldType.DATE)
NOTE = FieldDef("f-note", "Notes", FieldType.TEXT)
LINK = FieldDef("f-url", "Link", FieldType.URL)
OWNER = FieldDef("f-own", "Owner", FieldType.USER)
OK = FieldDef("f-ok", "Approved", FieldType.CHECKBOX)
TAGS = FieldDef(
    "f-tags",
    "Tags",
    FieldType.MULTI_SELECT,
    options=(Option("o-a", "Alpha"), Option("o-b", "Beta")),
)
#: OPS has its own "Story points" (another id) and nothing else.
OPS_PTS = FieldDef("g-pts", "story points", FieldType.NUMBER)
WEB_FIELDS = (SEV, PTS, DUE, NOTE, LINK, OWNER, OK, TAGS)

SCOPE = Scope(
    me=ME,
    now=NOW,
    projects_by_key={"WEB": WEB, "OPS": OPS},
    users_by_email={"ann@example.com": ANN},
    custom_fields=(*(ScopedField(WEB, f) for f in WEB_FIELDS), ScopedField(OPS, OPS_PTS)),
)


def _task(n: int, project: UUID, key: str, values: dict[str, object]) -> IndexedTask:
    task: dict[str, object] = {
        "id": str(UUID(int=n)),
        "key": f"{key}-{n}",
        "project_id": str(project),
        "title": f"Task {n}",
        "description": "",
        "status": "todo",
        "priority": "none",
        "assignee_id": None,
        "reporter_id": str(ME),
        "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
        "version": 1,
        "due_date": None,
        "labels": [],
        "sprint_id": None,
        "estimate": None,
        "custom_fields": values,
    }
    fields = WEB_FIELDS if project == WEB else (OPS_PTS,)
    return IndexedTask(task, str(ORG), "todo", field_types={f.id: f.type.value for f in fields})


TASKS = [
    _task(
        1,
        WEB,
        "WEB",
        {
            "f-sev": "o-high",
            "f-pts": 5,
            "f-due": "2026-12-31",
            "f-note": "Crashes on the login pages",
            "f-url": "https://GitHub.com/acme/web/issues/1",
            "f-own": str(ME),
            "f-ok": True,
            "f-tags": ["o-a", "o-b"],
        },
    ),
    _task(2, WEB, "WEB", {"f-sev": "o-low", "f-pts": 2.5, "f-due": "2026-03-01", "f-ok": False}),
    _task(3, WEB, "WEB", {"f-pts": -1, "f-own": str(ANN), "f-tags": ["o-b"], "f-note": ""}),
    _task(4, WEB, "WEB", {}),
    _task(5, OPS, "OPS", {"g-pts": 8}),
    _task(6, OPS, "OPS", {}),
]

QUERIES = {
    'cf."Severity":high': {"WEB-1"},
    "cf.severity:High,low": {"WEB-1", "WEB-2"},
    "cf.Severity:o-low": {"WEB-2"},
    "-cf.Severity:high": {"WEB-2", "WEB-3", "WEB-4", "OPS-5", "OPS-6"},
    "has:cf.Severity": {"WEB-1", "WEB-2"},
    "NOT has:cf.Notes": {"WEB-2", "WEB-3", "WEB-4", "OPS-5", "OPS-6"},
    'cf."Story points":>3': {"WEB-1", "OPS-5"},
    'cf."Story points":>=2.5': {"WEB-1", "WEB-2", "OPS-5"},
    'cf."Story points":<0': {"WEB-3"},
    'cf."Story points":2.5,8': {"WEB-2", "OPS-5"},
    'cf."Story points":<=5 project:WEB': {"WEB-1", "WEB-2", "WEB-3"},
    "cf.Ship:<2026-12-31": {"WEB-2"},
    "cf.Ship:<=2026-12-31": {"WEB-1", "WEB-2"},
    "cf.Ship:2026-03-01": {"WEB-2"},
    "cf.Ship:>today": {"WEB-1"},
    "cf.Ship:<30d": {"WEB-2"},
    "cf.Notes:crash": {"WEB-1"},
    'cf.Notes:"login page"': {"WEB-1"},
    "cf.Notes:docs": set(),
    "cf.Link:github.com/acme": {"WEB-1"},
    "cf.Link:gitlab": set(),
    "cf.Owner:me": {"WEB-1"},
    "cf.Owner:ann@example.com": {"WEB-3"},
    "cf.Owner:nobody@example.com": set(),
    "cf.Approved:true": {"WEB-1"},
    "cf.Approved:false": {"WEB-2", "WEB-3", "WEB-4"},
    "cf.Tags:beta": {"WEB-1", "WEB-3"},
    "cf.Tags:alpha": {"WEB-1"},
    "crash": {"WEB-1"},
    "pages login": {"WEB-1"},
    "cf.Severity:high OR cf.Tags:beta": {"WEB-1", "WEB-3"},
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> TaskIndex:
    built = TaskIndex(Path(tmp_path_factory.mktemp("index")), heap_bytes=15_000_000)
    built.upsert(TASKS)
    built.commit()
    return built


def _in_memory(text: str) -> set[str]:
    pred, _ = resolve(parse(text), SCOPE)
    return {
        str(x.task["key"]) for x in TASKS if matches(pred, TaskFacts(x.task, "todo"), stem=stem)
    }


def _scoped(index: TaskIndex, condition: Query) -> Query:
    org = Query.term_query(index.schema, "org", str(ORG))
    return Query.boolean_query([(Occur.Must, org), (Occur.Must, condition)])


def _indexed(index: TaskIndex, text: str) -> set[str]:
    pred, sort = resolve(parse(text), SCOPE)
    page = index.search(
        _scoped(index, translate(index.schema, pred)), sort=sort, limit=100, offset=0
    )
    return {str(h.task["key"]) for h in page.hits}


@pytest.mark.parametrize(("text", "expected"), QUERIES.items(), ids=list(QUERIES))
def test_memory_and_index_agree_on_custom_fields(
    index: TaskIndex, text: str, expected: set[str]
) -> None:
    assert _in_memory(text) == expected
    assert _indexed(index, text) == expected


def test_sorting_by_a_number_field_puts_tasks_without_one_last(index: TaskIndex) -> None:
    for direction, expected in (
        ("desc", ["OPS-5", "WEB-1", "WEB-2", "WEB-3", "WEB-4", "OPS-6"]),
        ("asc", ["WEB-3", "WEB-2", "WEB-1", "OPS-5", "WEB-4", "OPS-6"]),
    ):
        pred, sort = resolve(parse(f'sort:cf."Story points"-{direction}'), SCOPE)
        assert sort is not None and set(sort.field_ids) == {"f-pts", "g-pts"} and sort.numeric
        query = _scoped(index, translate(index.schema, pred))
        page = index.search(query, sort=sort, limit=4, offset=0)
        rest = index.search(query, sort=sort, limit=4, offset=4)
        assert [h.task["key"] for h in page.hits + rest.hits] == expected
        assert page.total == 6
        # In memory, the same key orders the same way (ids break ties, as in SQL).
        present = sorted(
            (t for t in TASKS if sort_value(t.task["custom_fields"], sort) is not None),
            key=lambda t: sort_value(t.task["custom_fields"], sort),  # type: ignore[arg-type,return-value]
            reverse=sort.descending,
        )
        assert [t.task["key"] for t in present] == expected[:4]


def test_a_custom_sort_over_too_many_matches_asks_for_a_narrower_filter(
    index: TaskIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_index, "CUSTOM_SORT_MAX", 5)
    pred, sort = resolve(parse('sort:cf."Story points"-desc'), SCOPE)
    query = _scoped(index, translate(index.schema, pred))
    with pytest.raises(ValueError, match="at most 5 tasks and 6 match; narrow the filter"):
        index.search(query, sort=sort, limit=2, offset=0)
    pred, sort = resolve(parse('project:OPS sort:cf."Story points"-desc'), SCOPE)
    page = index.search(_scoped(index, translate(index.schema, pred)), sort=sort, limit=5, offset=0)
    assert [h.task["key"] for h in page.hits] == ["OPS-5", "OPS-6"]


def test_names_and_options_resolve_to_ids() -> None:
    pred, _ = resolve(parse("cf.SEVERITY:high,Low"), SCOPE)
    assert pred == CustomIs("f-sev", frozenset({"o-high", "o-low"}))
    pred, _ = resolve(parse("cf.f-pts:<=3"), SCOPE)
    assert pred == CustomRange("f-pts", None, 3.0)
    pred, _ = resolve(parse("cf.Approved:false"), SCOPE)
    assert pred == AllOf(
        (Match("project", frozenset({str(WEB)})), NoneOf(CustomIs("f-ok", frozenset({"true"}))))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cf.Nope:x", "no custom field named 'Nope'"),
        ('has:cf."Nope at all"', "no custom field named 'Nope at all'"),
        ("cf.Severity:urgent", "no option 'urgent' (options: High, Low)"),
        ('cf."Story points":lots', "expected a number, not 'lots'"),
        ("cf.Ship:soon", "expected a date"),
        ("cf.Severity:>high", "compares only with ':'"),
        ("cf.Approved:maybe", "expected true or false"),
        ("sort:cf.Notes-desc", "only number or date fields sort"),
        ("sort:cf.Nope-asc", "no custom field named 'Nope'"),
    ],
)
def test_what_means_nothing_in_scope_is_a_filter_error(text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        resolve(parse(text), SCOPE)
    assert message in caught.value.detail and caught.value.status == 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cf."Severity":high', CustomField("Severity", Op.EQ, ("high",))),
        ('cf."Story points":>3', CustomField("Story points", Op.GT, ("3",))),
        ("cf.Severity:high,low", CustomField("Severity", Op.EQ, ("high", "low"))),
        ('cf.Severity:"very high",low', CustomField("Severity", Op.EQ, ("very high", "low"))),
        ("cf.Points:1,-3", CustomField("Points", Op.EQ, ("1", "-3"))),
        (
            "cf.Severity:high,status:open",
            And((CustomField("Severity", Op.EQ, ("high",)), Field("status", Op.EQ, "open"))),
        ),
        (
            "cf.Severity:high,-label:x",
            And(
                (
                    CustomField("Severity", Op.EQ, ("high",)),
                    Not(Field("label", Op.EQ, "x")),
                )
            ),
        ),
        (
            "cf.A:x,cf.B:y",
            And((CustomField("A", Op.EQ, ("x",)), CustomField("B", Op.EQ, ("y",)))),
        ),
        ('has:cf."Severity"', HasCustom("Severity")),
        ("-cf.Severity:high", Not(CustomField("Severity", Op.EQ, ("high",)))),
        ("cf.com", Text("cf.com")),
        (
            "cf.Due:<2026-12-31 OR bug",
            Or((CustomField("Due", Op.LT, ("2026-12-31",)), Text("bug"))),
        ),
    ],
)
def test_parses_custom_fields(text: str, expected: object) -> None:
    assert parse(text).expr == expected
    assert parse(print_query(parse(text))) == parse(text)


@pytest.mark.parametrize(
    ("text", "sort"),
    [
        ('sort:cf."Story points"-desc', Sort(SortKey.CUSTOM, True, "Story points")),
        ("sort:cf.Points-asc", Sort(SortKey.CUSTOM, False, "Points")),
        ("sort:cf.my-field-desc", Sort(SortKey.CUSTOM, True, "my-field")),
    ],
)
def test_parses_custom_sorts(text: str, sort: Sort) -> None:
    query = parse(f"bug {text}")
    assert query == FilterQuery(Text("bug"), sort)
    assert parse(print_query(query)) == query


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ('cf."Severity', 3, "never closed"),
        ('cf."Severity" high', 13, "expects ':'"),
        ('cf."":x', 3, "expects a field name"),
        ("cf.Points:>1,2", 11, "a list of values needs ':'"),
        ("cf.Points:", 10, "expects a value"),
        ('sort:cf."Story points"', 5, "cf.<field>-desc"),
        ("has:cf.Severity:x", 15, "takes no value"),
    ],
)
def test_custom_field_syntax_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(text)
    assert caught.value.position == position and message in caught.value.detail


_NAMES = st.sampled_from(["Severity", "Story points", 'odd "name"', "a-b", "x:y", "É"])
_VALUE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
).filter(lambda s: s.strip() != "")
_CUSTOM = st.one_of(
    st.builds(
        CustomField,
        _NAMES,
        st.just(Op.EQ),
        st.lists(_VALUE, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(CustomField, _NAMES, st.sampled_from(list(Op)), _VALUE.map(lambda v: (v,))),
    st.builds(HasCustom, _NAMES),
)
_LEAF = st.one_of(_CUSTOM, st.just(Field("label", Op.EQ, "x")), st.just(Text("bug")))
_TREE = st.one_of(
    _LEAF,
    _LEAF.map(Not),
    st.lists(_LEAF, min_size=2, max_size=3).map(lambda cs: And(tuple(cs))),
    st.lists(_LEAF, min_size=2, max_size=3).map(lambda cs: Or(tuple(cs))),
)
_SORT = st.none() | st.builds(Sort, st.just(SortKey.CUSTOM), st.booleans(), _NAMES)


@settings(max_examples=300, deadline=None)
@given(node=_TREE, sort=_SORT)
def test_printing_then_parsing_custom_conditions_gives_them_back(
    node: object, sort: Sort | None
) -> None:
    query = FilterQuery(node, sort)  # type: ignore[arg-type]
    assert parse(print_query(query)) == query


_PIECES = st.sampled_from(
    ["cf.", "cf", ".", '"', ":", ">", "=", ",", "-", "(", ")", " ", "has:", "sort:", "a", "1"]
)


@settings(max_examples=500, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=12))
def test_any_text_parses_or_is_a_filter_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        query = parse(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    assert parse(print_query(query)) == query
    with contextlib.suppress(FilterSyntaxError):  # names this scope does not have
        resolve(query, SCOPE)


def test_automation_conditions_with_custom_fields_parse() -> None:
    # Names are checked against the project when the rule is saved (integration).
    assert check_condition(" label:x -cf.Severity:high ") == "label:x -cf.Severity:high"
    with pytest.raises(FilterSyntaxError) as caught:
        check_condition("cf.Severity:(")
    assert caught.value.position > 0
