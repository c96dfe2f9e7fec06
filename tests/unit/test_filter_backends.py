"""Resolution, in-memory evaluation and the Tantivy index agree on the same tasks
(no services: the index lives in a temporary directory)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from tantivy import Occur, Query

from domain.filters import Scope, TaskFacts, matches, parse, resolve
from domain.filters.predicates import AllOf, DueRange, Match, NoneOf
from search.index import TaskIndex
from search.query import TextOptions, translate
from search.schema import IndexedTask, stem

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ME, ANN = uuid4(), uuid4()
ORG, WEB, OPS = uuid4(), uuid4(), uuid4()
SPRINT = uuid4()


def _task(
    n: int,
    project: UUID,
    key: str,
    *,
    comments: tuple[str, ...] = (),
    attachments: int = 0,
    **fields: object,
) -> IndexedTask:
    base: dict[str, object] = {
        "id": str(uuid4()),
        "key": f"{key}-{n}",
        "project_id": str(project),
        "title": f"Task {n}",
        "description": "",
        "status": "todo",
        "priority": "none",
        "assignee_id": None,
        "reporter_id": str(ME),
        "created_at": (NOW - timedelta(days=n)).isoformat(),
        "updated_at": (NOW - timedelta(days=n)).isoformat(),
        "version": 1,
        "rank": "",
        "parent_id": None,
        "estimate": None,
        "due_date": None,
        "start_date": None,
        "labels": [],
        "watchers": [],
        "sprint_id": None,
    }
    base.update(fields)
    category = {"todo": "todo", "doing": "in_progress", "done": "done"}[str(base["status"])]
    return IndexedTask(base, str(ORG), category, attachments, comments)


TASKS = [
    _task(
        1,
        WEB,
        "WEB",
        title="Login page crashes",
        description="The bugs are in the form",
        assignee_id=str(ME),
        priority="high",
        labels=["Backend"],
        status="doing",
    ),
    _task(
        2,
        WEB,
        "WEB",
        title="Fix logout",
        description="button broken",
        priority="urgent",
        due_date="2026-03-01",
        comments=("the login flow also fails",),
    ),
    _task(
        3,
        WEB,
        "WEB",
        title="Write docs",
        status="done",
        due_date="2026-03-01",
        assignee_id=str(ANN),
        attachments=2,
        sprint_id=str(SPRINT),
    ),
    _task(
        12,
        OPS,
        "OPS",
        title="Rotate keys",
        description="security bug",
        priority="low",
        labels=["ops", "backend"],
        due_date="2026-03-15",
    ),
    _task(30, OPS, "OPS", title="Crash reports dashboard", estimate=3.0),
]

SCOPE = Scope(
    me=ME,
    now=NOW,
    projects_by_key={"WEB": WEB, "OPS": OPS},
    users_by_email={"ann@example.com": ANN},
    current_sprints=frozenset({SPRINT}),
    statuses_by_name={"in progress": frozenset({"doing"})},
)

QUERIES = {
    "bug": {"WEB-1", "OPS-12"},
    "bugs": {"WEB-1", "OPS-12"},
    "crash": {"WEB-1", "OPS-30"},
    '"login page"': {"WEB-1"},
    "login": {"WEB-1", "WEB-2"},
    "web 12": set(),
    "ops": {"OPS-12", "OPS-30"},
    "assignee:me": {"WEB-1"},
    "assignee:ann@example.com": {"WEB-3"},
    "assignee:nobody@example.com": set(),
    "assignee:none": {"WEB-2", "OPS-12", "OPS-30"},
    "is:unassigned project:OPS": {"OPS-12", "OPS-30"},
    "status:open": {"WEB-1", "WEB-2", "OPS-12", "OPS-30"},
    "status:done": {"WEB-3"},
    '"status:In Progress"': set(),
    'status:"in progress"': {"WEB-1"},
    "status:in_progress": {"WEB-1"},
    "priority:high": {"WEB-1"},
    "priority:>=high": {"WEB-1", "WEB-2"},
    "priority:<medium": {"WEB-3", "OPS-12", "OPS-30"},
    "label:backend": {"WEB-1", "OPS-12"},
    "project:WEB -label:backend": {"WEB-2", "WEB-3"},
    "sprint:current": {"WEB-3"},
    "sprint:none project:WEB": {"WEB-1", "WEB-2"},
    "created:>2026-03-08": {"WEB-1"},
    "created:2026-03-09": {"WEB-1"},
    "updated:<60h": {"WEB-1", "WEB-2"},
    "updated:>20d": {"OPS-30"},
    "due:overdue": {"WEB-2"},
    "due:<2026-03-10": {"WEB-2", "WEB-3"},
    "due:none": {"WEB-1", "OPS-30"},
    "NOT due:<7d": {"WEB-1", "OPS-30"},
    "has:attachments": {"WEB-3"},
    "has:comments": {"WEB-2"},
    "has:estimate": {"OPS-30"},
    "key:web-2": {"WEB-2"},
    "(crash OR docs) AND NOT project:OPS": {"WEB-1", "WEB-3"},
    "bug OR label:ops": {"WEB-1", "OPS-12"},
    "project:NOPE": set(),
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> TaskIndex:
    built = TaskIndex(Path(tmp_path_factory.mktemp("index")), heap_bytes=15_000_000)
    built.upsert(TASKS)
    built.commit()
    return built


def _facts(item: IndexedTask) -> TaskFacts:
    return TaskFacts(item.task, item.category, item.attachments, item.comments)


def _in_memory(text: str) -> set[str]:
    pred, _ = resolve(parse(text), SCOPE)
    return {str(x.task["key"]) for x in TASKS if matches(pred, _facts(x), stem=stem)}


def _indexed(index: TaskIndex, text: str, opts: TextOptions | None = None) -> set[str]:
    pred, _ = resolve(parse(text), SCOPE)
    query = Query.boolean_query(
        [
            (Occur.Must, Query.term_query(index.schema, "org", str(ORG))),
            (Occur.Must, translate(index.schema, pred, opts)),
        ]
    )
    page = index.search(query, sort=None, limit=100, offset=0)
    assert page.total == len(page.hits)
    return {str(h.task["key"]) for h in page.hits}


@pytest.mark.parametrize(("text", "expected"), QUERIES.items(), ids=list(QUERIES))
def test_memory_and_index_give_the_expected_tasks(
    index: TaskIndex, text: str, expected: set[str]
) -> None:
    assert _in_memory(text) == expected
    assert _indexed(index, text) == expected


def test_overdue_resolves_to_past_due_and_not_done() -> None:
    pred, _ = resolve(parse("due:overdue"), SCOPE)
    assert pred == AllOf(
        (DueRange(None, date(2026, 3, 10)), NoneOf(Match("category", frozenset({"done"}))))
    )


def test_fuzzy_and_prefix_matching_loosen_only_free_text(index: TaskIndex) -> None:
    assert _indexed(index, "dashbaord") == set()
    assert _indexed(index, "dashbaord", TextOptions(fuzzy=True)) == {"OPS-30"}
    assert _indexed(index, "rota") == set()
    assert _indexed(index, "rota", TextOptions(prefix="rota")) == {"OPS-12"}


def test_the_word_being_typed_finds_the_longer_words_the_index_names(index: TaskIndex) -> None:
    searcher = index.searcher()
    assert index.completions(searcher, "rota") == ("rotate",)
    assert index.completions(searcher, "log") == ("login", "logout")
    assert index.completions(searcher, "login") == ()
    assert index.completions(searcher, "lo") is None, "too short to look up"
    named: tuple[str, ...] | None
    for named in (("rotate",), None):
        found = _indexed(index, "rota", TextOptions(prefix="rota", completions=named))
        assert found == {"OPS-12"}
    for named in (("login", "logout"), None):
        found = _indexed(index, "log", TextOptions(prefix="log", completions=named))
        assert found == {"WEB-1", "WEB-2"}
    # Nothing longer begins "login": typing it finds what the word finds.
    typed = _indexed(index, "login", TextOptions(prefix="login", completions=()))
    assert typed == _indexed(index, "login") == {"WEB-1", "WEB-2"}


def test_too_many_completions_are_left_to_a_regex(
    index: TaskIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("search.index.COMPLETIONS_MAX", 1)
    assert index.completions(index.searcher(), "log") is None
    assert index.completions(index.searcher(), "rota") == ("rotate",)


def test_a_task_holding_the_typed_word_ranks_above_one_holding_a_longer_word(
    tmp_path: Path,
) -> None:
    small = TaskIndex(tmp_path, heap_bytes=15_000_000)
    small.upsert(
        [
            _task(1, WEB, "WEB", title="Login form"),
            _task(2, WEB, "WEB", title="Log rotation"),
            _task(3, WEB, "WEB", title="Unrelated"),
        ]
    )
    small.commit()
    completions = small.completions(small.searcher(), "log")
    assert completions == ("login",)
    pred, _ = resolve(parse("log"), SCOPE)
    query = translate(small.schema, pred, TextOptions(prefix="log", completions=completions))
    page = small.search(query, sort=None, limit=10, offset=0)
    assert [h.task["key"] for h in page.hits] == ["WEB-2", "WEB-1"]
    assert page.hits[0].score is not None and page.hits[1].score == pytest.approx(0.8)


def test_highlights_mark_the_matched_words(index: TaskIndex) -> None:
    pred, _ = resolve(parse("login"), SCOPE)
    query = translate(index.schema, pred)
    page = index.search(query, sort=None, limit=10, offset=0, highlight=query)
    marks = {h.task["key"]: h.highlights for h in page.hits}
    assert marks["WEB-1"]["title"] == "<b>Login</b> page crashes"
    assert "<b>login</b>" in marks["WEB-2"]["comments"]


def test_a_missing_index_is_created_fresh_and_reports_it(tmp_path: Path) -> None:
    assert TaskIndex(tmp_path / "new", heap_bytes=15_000_000).fresh
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text("{ not json")
    reopened = TaskIndex(broken, heap_bytes=15_000_000)
    assert reopened.fresh and reopened.count() == 0
