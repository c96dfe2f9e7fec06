"""A search's scope: the caller's organisation and readable projects, named either
way round (readable projects, or the held ones excluded), with the same hits;
what the index records of the projects it holds, and when it does not know."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import orjson
import pytest
from tantivy import IndexWriter, Occur, Query

from search.index import POSITIONS, TaskIndex, scope_parts
from search.schema import IndexedTask, build_schema

ORG_A, ORG_B = str(uuid4()), str(uuid4())
A_PROJECTS = [str(uuid4()) for _ in range(4)]
B_PROJECT = str(uuid4())


def _item(org: str, project: str, n: int) -> IndexedTask:
    task: dict[str, Any] = {
        "id": str(uuid4()),
        "key": f"K-{n}",
        "project_id": project,
        "title": f"Shared word {n}",
        "description": "",
        "status": "todo",
        "priority": "none",
        "reporter_id": str(uuid4()),
        "created_at": "2026-03-10T12:00:00+00:00",
        "updated_at": "2026-03-10T12:00:00+00:00",
        "version": 1,
        "labels": [],
        "watchers": [],
    }
    return IndexedTask(task, org, "todo")


ITEMS = [
    *(_item(ORG_A, p, i * 10 + j) for i, p in enumerate(A_PROJECTS) for j in range(3)),
    *(_item(ORG_B, B_PROJECT, 100 + j) for j in range(3)),
]


def _build(path: Path) -> TaskIndex:
    index = TaskIndex(path, heap_bytes=15_000_000)
    index.upsert(ITEMS)
    index.commit()
    return index


def _closed_index(tmp_path: Path) -> Path:
    """An index built and released (its writer's lock with it), to reopen."""
    path = tmp_path / "index"
    index = _build(path)
    del index
    return path


def _three_each(projects: list[str]) -> list[str]:
    """The hits `_projects_hit` gives for these projects (three tasks each)."""
    return sorted(p for p in projects for _ in range(3))


def _projects_hit(index: TaskIndex, org: str, readable: list[str]) -> list[str]:
    word = Query.term_query(index.schema, "title", "share")
    page = index.search(word, sort=None, limit=100, offset=0, within=(org, readable))
    assert page.total == len(page.hits)
    return sorted(str(h.task["project_id"]) for h in page.hits)


def _kinds(parts: list[tuple[Occur, Query]]) -> list[Occur]:
    return [occur for occur, _ in parts]


def test_the_shorter_form_is_chosen() -> None:
    schema = build_schema()
    held = set(A_PROJECTS)
    # Three readable of four held: one project excluded.
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS[:3], held)) == [Occur.Must, Occur.MustNot]
    # All readable: the organisation alone.
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS, held)) == [Occur.Must]
    # One readable of four: naming it is shorter.
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS[:1], held)) == [Occur.Must, Occur.Must]
    # Not known what the index holds: the readable projects, always.
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS, None)) == [Occur.Must, Occur.Must]
    # The organisation alone in the index: no clause names it.
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS, held, alone=True)) == []
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS[:3], held, alone=True)) == [Occur.MustNot]
    assert _kinds(scope_parts(schema, ORG_A, A_PROJECTS[:1], held, alone=True)) == [Occur.Must]


def test_an_organisation_alone_in_the_index_is_searched_without_naming_it(
    tmp_path: Path,
) -> None:
    index = TaskIndex(tmp_path / "index", heap_bytes=15_000_000)
    index.upsert([i for i in ITEMS if i.org_id == ORG_A])
    index.commit()
    assert index.holds_only(ORG_A)
    assert not index.holds_only(ORG_B)
    for count in (1, 3, 4):
        readable = A_PROJECTS[:count]
        assert _projects_hit(index, ORG_A, readable) == _three_each(readable)
    # Another organisation's caller is still kept to its own (here: nothing).
    assert _projects_hit(index, ORG_B, [B_PROJECT, *A_PROJECTS]) == []

    # Once another organisation's documents arrive, the organisation is named again.
    index.upsert([i for i in ITEMS if i.org_id == ORG_B])
    index.commit()
    assert not index.holds_only(ORG_A)
    assert _projects_hit(index, ORG_A, [*A_PROJECTS, B_PROJECT]) == _three_each(A_PROJECTS)
    assert _projects_hit(index, ORG_B, [B_PROJECT]) == [B_PROJECT] * 3


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_hits_are_the_readable_projects_of_the_organisation(tmp_path: Path, count: int) -> None:
    index = _build(tmp_path / "index")
    readable = A_PROJECTS[:count]
    assert _projects_hit(index, ORG_A, readable) == _three_each(readable)
    assert _projects_hit(index, ORG_B, [B_PROJECT]) == [B_PROJECT] * 3
    # Another organisation's project named as readable still gives nothing of it.
    assert _projects_hit(index, ORG_A, [B_PROJECT]) == []


def test_documents_of_a_project_no_longer_readable_stay_hidden(tmp_path: Path) -> None:
    """A deleted project's documents may outlive it until the consumer drops them;
    its id is then in no readable list, and none of them may show."""
    index = _build(tmp_path / "index")
    live = A_PROJECTS[1:]  # the first one was deleted, its documents still indexed
    assert index.held(ORG_A) == frozenset(A_PROJECTS)
    assert A_PROJECTS[0] not in _projects_hit(index, ORG_A, live)
    assert len(_projects_hit(index, ORG_A, live)) == 9


def test_held_projects_survive_a_reopen_and_are_written_before_the_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index"
    index = _build(path)
    on_disk = orjson.loads((path / POSITIONS).read_bytes())
    assert sorted(on_disk["held"][ORG_A]) == sorted(A_PROJECTS)
    assert on_disk["held_complete"] is True

    new_project = str(uuid4())
    seen_at_commit: list[list[str]] = []

    class Watching:
        """The writer, noting what `positions.json` says when a commit starts."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def commit(self) -> Any:
            seen_at_commit.append(orjson.loads((path / POSITIONS).read_bytes())["held"][ORG_A])
            return self.inner.commit()

    index._writer = cast(IndexWriter, Watching(index._writer))
    held_before = index.held(ORG_A)
    index.upsert([_item(ORG_A, new_project, 500)])
    # Searches see the project held as soon as its documents are written, before
    # any commit can make them visible; the set they had is left as it was.
    assert index.held(ORG_A) == frozenset([*A_PROJECTS, new_project])
    assert held_before == frozenset(A_PROJECTS)
    index.commit()
    assert new_project in seen_at_commit[0]  # on disk before the commit made it visible
    del index  # releases the writer's lock

    reopened = TaskIndex(path, heap_bytes=15_000_000)
    assert reopened.held(ORG_A) == frozenset([*A_PROJECTS, new_project])
    assert _projects_hit(reopened, ORG_A, A_PROJECTS[:3]) == _three_each(A_PROJECTS[:3])


def test_an_index_from_before_the_record_names_projects_until_a_full_rebuild(
    tmp_path: Path,
) -> None:
    path = _closed_index(tmp_path)
    old = orjson.loads((path / POSITIONS).read_bytes())
    del old["held"], old["held_complete"]
    (path / POSITIONS).write_bytes(orjson.dumps(old))

    reopened = TaskIndex(path, heap_bytes=15_000_000)
    assert reopened.held(ORG_A) is None
    assert _projects_hit(reopened, ORG_A, A_PROJECTS[:3]) == _three_each(A_PROJECTS[:3])
    # A rebuild of one organisation does not make the record whole ...
    reopened.positions.gen = gen = reopened.positions.gen + 1
    reopened.upsert([i for i in ITEMS if i.org_id == ORG_B], gen)
    reopened.delete_older(gen, ORG_B)
    reopened.commit()
    assert reopened.held(ORG_A) is None
    # ... a rebuild of all of them does.
    reopened.positions.gen = gen = gen + 1
    reopened.upsert(ITEMS, gen)
    reopened.delete_older(gen, None)
    reopened.commit()
    assert reopened.held(ORG_A) == frozenset(A_PROJECTS)
    assert reopened.held(ORG_B) == frozenset([B_PROJECT])


def test_a_missing_positions_file_beside_an_existing_index_is_not_trusted(
    tmp_path: Path,
) -> None:
    path = _closed_index(tmp_path)
    (path / POSITIONS).unlink()
    reopened = TaskIndex(path, heap_bytes=15_000_000)
    assert not reopened.fresh
    assert reopened.held(ORG_A) is None
    # Nor is it taken to hold one organisation only: the organisation is named.
    assert not reopened.holds_only(ORG_A)
    assert _projects_hit(reopened, ORG_A, [*A_PROJECTS, B_PROJECT]) == _three_each(A_PROJECTS)
    assert TaskIndex(tmp_path / "new", heap_bytes=15_000_000).held(ORG_A) == frozenset()
