"""Which facts a query needs (`domain.filters.needs`): a query resolves the same
with only the facts it asks for as with all of them, and plain free text asks
for none (so a search with it reads no project, member or sprint)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.custom_fields import FieldDef, FieldType, Option
from domain.filters import FilterSyntaxError, Scope, ScopedField, Sort, parse, resolve
from domain.filters.needs import EVERYTHING, NOTHING, Needs, needs_of
from domain.filters.predicates import AllOf, AnyOf, Match, NoneOf, Predicate, Words
from search.scope import for_index

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ME, ANN = uuid4(), uuid4()
WEB, OPS, SPRINT = uuid4(), uuid4(), uuid4()
SEV = FieldDef(
    "f-sev",
    "Severity",
    FieldType.SINGLE_SELECT,
    options=(Option("o-hi", "High"), Option("o-lo", "Low")),
)
FIELDS = (
    SEV,
    FieldDef("f-pts", "Story points", FieldType.NUMBER),
    FieldDef("f-note", "Notes", FieldType.TEXT),
    FieldDef("f-own", "Owner", FieldType.USER),
    FieldDef("f-ok", "Approved", FieldType.CHECKBOX),
)

FULL = Scope(
    me=ME,
    now=NOW,
    projects_by_key={"WEB": WEB, "OPS": OPS},
    users_by_email={"ann@example.com": ANN},
    current_sprints=frozenset({SPRINT}),
    statuses_by_name={
        "in review": frozenset({"review"}),
        "open": frozenset({"s-open"}),
        "done": frozenset({"s-done"}),
    },
    custom_fields=tuple(ScopedField(WEB, f) for f in FIELDS),
)

QUERIES = [
    "",
    "login bug",
    '"login page"',
    "login -crash",
    "label:backend priority:>=high",
    "created:>2026-01-01 updated:<7d due:<2w",
    "due:none has:comments key:WEB-12",
    "assignee:me",
    "assignee:none",
    f"assignee:{ANN}",
    "assignee:ann@example.com",
    "reporter:ann@example.com",
    "status:open",
    "status:closed",
    'status:"In review"',
    "status:done OR label:x",
    "is:open",
    "is:closed",
    "is:overdue",
    "is:unassigned",
    "is:assigned",
    "due:overdue",
    "project:WEB",
    f"project:{WEB}",
    "sprint:current",
    "sprint:none",
    f"sprint:{SPRINT}",
    "cf.Severity:high",
    "NOT cf.Severity:high,low",
    "cf.Owner:ann@example.com",
    "cf.Owner:me",
    "cf.Approved:false",
    'cf."Story points":>3',
    "has:cf.Notes",
    'sort:cf."Story points"-desc',
    "bug sort:updated-asc",
    "(bug OR status:open) NOT (project:OPS AND sprint:current)",
]


def _limited(scope: Scope, needs: Needs) -> Scope:
    """The scope `search.scope.load_facts` builds for `needs` (empty where not asked)."""
    custom = needs.custom_fields or needs.text_fields
    return dataclasses.replace(
        scope,
        projects_by_key=scope.projects_by_key if needs.projects else {},
        users_by_email=scope.users_by_email if needs.people else {},
        current_sprints=scope.current_sprints if needs.sprints else frozenset(),
        statuses_by_name=scope.statuses_by_name if needs.statuses or needs.categories else {},
        custom_fields=scope.custom_fields if custom else (),
    )


def _outcome(text: str, scope: Scope) -> tuple[Predicate, Sort | None] | str:
    """The resolved query, or the error's text."""
    query = parse(text)
    try:
        return resolve(query, scope)
    except FilterSyntaxError as exc:
        return exc.detail


def _parts(pred: Predicate) -> list[Predicate]:
    found = [pred]
    match pred:
        case AllOf(parts=parts) | AnyOf(parts=parts):
            for p in parts:
                found += _parts(p)
        case NoneOf(part=part):
            found += _parts(part)
    return found


def _without_text_fields(pred: Predicate) -> Predicate:
    match pred:
        case Words():
            return dataclasses.replace(pred, fields=())
        case AllOf(parts=parts):
            return AllOf(tuple(_without_text_fields(p) for p in parts))
        case AnyOf(parts=parts):
            return AnyOf(tuple(_without_text_fields(p) for p in parts))
        case NoneOf(part=part):
            return NoneOf(_without_text_fields(part))
    return pred


@pytest.mark.parametrize("text", QUERIES)
def test_a_query_resolves_the_same_with_only_what_it_needs(text: str) -> None:
    needs = needs_of(parse(text))
    assert _outcome(text, _limited(FULL, needs)) == _outcome(text, FULL)


@pytest.mark.parametrize("text", QUERIES)
def test_a_category_condition_asks_for_the_categories(text: str) -> None:
    """The SQL backend matches a category through each project's workflow."""
    outcome = _outcome(text, FULL)
    if isinstance(outcome, str):
        return
    pred = outcome[0]
    uses = any(isinstance(p, Match) and p.field == "category" for p in _parts(pred))
    assert needs_of(parse(text)).categories == uses


@pytest.mark.parametrize("text", QUERIES)
def test_the_index_resolves_the_same_but_for_text_field_ids(text: str) -> None:
    """The index searches text custom values as free text and stores categories."""
    needs = for_index(needs_of(parse(text)))
    limited, full = _outcome(text, _limited(FULL, needs)), _outcome(text, FULL)
    if isinstance(full, str) or isinstance(limited, str):
        assert limited == full
        return
    assert _without_text_fields(limited[0]) == _without_text_fields(full[0])
    assert limited[1] == full[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login bug", Needs(text_fields=True)),
        ("label:backend priority:high due:<2w", NOTHING),
        ("assignee:me reporter:me", NOTHING),
        ("assignee:ann@example.com", Needs(people=True)),
        ("status:open", Needs(statuses=True, categories=True)),
        ('status:"In review"', Needs(statuses=True)),
        ("is:overdue", Needs(categories=True)),
        ("project:WEB", Needs(project_keys=True)),
        ("sprint:current", Needs(sprints=True)),
        ("sprint:none", NOTHING),
        ("cf.Severity:high", Needs(custom_fields=True)),
        ("cf.Owner:ann@example.com", Needs(custom_fields=True, people=True)),
        ("sort:cf.Points-desc", Needs(custom_fields=True)),
    ],
)
def test_needs_name_the_facts_a_query_refers_to(text: str, expected: Needs) -> None:
    assert needs_of(parse(text)) == expected


def test_plain_free_text_needs_nothing_of_the_index() -> None:
    for text in ("login bug", '"login page" -crash', "label:x bug", "priority:>=high bug"):
        assert for_index(needs_of(parse(text))) == NOTHING


def test_needs_combine_and_everything_reads_projects() -> None:
    assert Needs(people=True) | Needs(sprints=True) == Needs(people=True, sprints=True)
    assert EVERYTHING.projects and not NOTHING.projects
    assert not Needs(people=True, sprints=True).projects
