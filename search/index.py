"""`TaskIndex`: one shard's Tantivy index on disk, its writer and its searches.

A plain class (no Ray), so tests and the benchmark drive it directly; the shard
actor (`search.actor`) owns one. Not safe for concurrent use: the actor
serialises writes with a lock and runs commits and searches in threads.

Next to the index lives `positions.json`: per project, the last event version
whose effects are in a *committed* index, and the current rebuild generation.
After a crash the actor rewinds the consumer's offsets to these positions, so
changes that were received but never committed are delivered again.

It also keeps, per organisation, the projects whose documents the index may hold
(`held`), so a search can be scoped to "the organisation but these few projects"
instead of naming every project the caller may read (a set of a thousand project
terms costs milliseconds per query over a million documents; one organisation
term and a short exclusion list, a fraction of one). `held` only ever grows, and
is written to disk before any commit that could make a new project's documents
searchable, so at any moment it covers every document a searcher can see. An
index written before `held` was kept does not know it (`held_complete` false)
until a full rebuild; until then searches name the readable projects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tantivy
from tantivy import Occur, Order, Query

from domain.filters.ast import Sort, SortKey
from domain.filters.custom import sort_value
from search.query import terms
from search.schema import IndexedTask, build_schema, to_document

log = logging.getLogger(__name__)

POSITIONS = "positions.json"
_SORT_FIELDS = {
    SortKey.UPDATED: "updated_us",
    SortKey.CREATED: "created_us",
    SortKey.DUE: "due",
    SortKey.PRIORITY: "prio",
}


#: The most matching tasks a custom-field sort orders (it reads each one).
CUSTOM_SORT_MAX = 10_000
#: Completions of the word being typed are looked up for words this long, and
#: named when there are at most this many.
COMPLETION_MIN_CHARS = 3
COMPLETIONS_MAX = 64


def _hit(doc: tantivy.Document, score: float | None, generators: dict[str, Any]) -> Hit:
    marks: dict[str, str] = {}
    for name, generator in generators.items():
        snippet = generator.snippet_from_doc(doc)
        if snippet.highlighted():
            marks[name] = snippet.to_html()
    raw = doc.get_first("doc")
    return Hit(score, orjson.loads(raw) if raw else {}, marks)


@dataclass(slots=True)
class Positions:
    projects: dict[str, int] = field(default_factory=dict)
    gen: int = 0
    #: Organisation → projects whose documents the index may hold (never shrinks).
    held: dict[str, set[str]] = field(default_factory=dict)
    #: Whether `held` covers every document (false for an index older than `held`).
    held_complete: bool = True

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "projects": self.projects,
                "gen": self.gen,
                "held": {org: sorted(ids) for org, ids in self.held.items()},
                "held_complete": self.held_complete,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Positions:
        data = orjson.loads(raw)
        return cls(
            {str(k): int(v) for k, v in data["projects"].items()},
            int(data["gen"]),
            {str(org): {str(p) for p in ids} for org, ids in data.get("held", {}).items()},
            bool(data.get("held_complete", False)),
        )


def scope_parts(
    schema: tantivy.Schema,
    org_id: str,
    readable: Collection[str],
    held: Collection[str] | None,
    *,
    alone: bool = False,
) -> list[tuple[Occur, Query]]:
    """Clauses keeping `org_id`'s documents of the `readable` projects. With `held`
    (every project of the organisation the index may hold documents of), the
    shorter of two equivalent forms: the readable projects, or the held projects
    that are not readable, excluded. `alone`: the index holds no other
    organisation's documents, so no clause names the organisation (intersecting
    with a term every document has costs a search over a million documents more
    than a millisecond, and selects nothing)."""
    parts = [] if alone else [(Occur.Must, Query.term_query(schema, "org", org_id))]
    if held is not None:
        excluded = frozenset(held).difference(readable)
        if len(excluded) < len(readable):
            if excluded:
                parts.append((Occur.MustNot, terms(schema, "project", excluded)))
            return parts
    parts.append((Occur.Must, terms(schema, "project", readable)))
    return parts


@dataclass(frozen=True, slots=True)
class Hit:
    score: float | None
    task: dict[str, Any]
    highlights: dict[str, str]


@dataclass(frozen=True, slots=True)
class Page:
    hits: list[Hit]
    total: int


class TaskIndex:
    """See the module docstring. `fresh` says the index was created empty (missing
    or unreadable files), so its owner must rebuild it from PostgreSQL."""

    def __init__(self, path: Path, *, heap_bytes: int = 64_000_000) -> None:
        self.path = path
        self.schema = build_schema()
        self.fresh = False
        self.index = self._open(path)
        self._writer = self.index.writer(heap_size=heap_bytes, num_threads=1)
        self.positions = self._read_positions()
        self.pending: dict[str, int] = {}
        self._held_unsaved = False
        self._complete_after_commit = False
        self._held_frozen = {org: frozenset(ids) for org, ids in self.positions.held.items()}
        #: Counts the commits made searchable; read before taking a searcher, it
        #: names a state no newer than what that searcher sees.
        self.generation = 0

    def _open(self, path: Path) -> tantivy.Index:
        path.mkdir(parents=True, exist_ok=True)
        try:
            if tantivy.Index.exists(str(path)):
                index = tantivy.Index(self.schema, path=str(path), reuse=True)
                index.searcher().num_docs  # noqa: B018 - reads the segments: fails if corrupt
                return index
        except (OSError, ValueError) as exc:
            log.warning("search index at %s is unreadable (%s); rebuilding it", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        self.fresh = True
        with contextlib.suppress(FileNotFoundError):
            (path / POSITIONS).unlink()
        return tantivy.Index(self.schema, path=str(path), reuse=False)

    def _read_positions(self) -> Positions:
        try:
            return Positions.from_json((self.path / POSITIONS).read_bytes())
        except (OSError, ValueError, KeyError):
            # A fresh index holds nothing yet; an existing one without its
            # positions may hold documents of any project.
            return Positions(held_complete=self.fresh)

    def _hold(self, item: IndexedTask) -> None:
        projects = self.positions.held.setdefault(item.org_id, set())
        project_id = str(item.task["project_id"])
        if project_id not in projects:
            projects.add(project_id)
            self._held_unsaved = True
            # Replaced whole here, by the one thread that writes: searches in other
            # threads see the old set or the new one, never a half-made one.
            self._held_frozen[item.org_id] = frozenset(projects)

    def held(self, org_id: str) -> frozenset[str] | None:
        """The organisation's projects whose documents the index may hold (None:
        not known, for an index older than this record). Frozen once per change,
        not once per search: an organisation may have thousands of projects."""
        if not self.positions.held_complete:
            return None
        return self._held_frozen.get(org_id, frozenset())

    def holds_only(self, org_id: str) -> bool:
        """Whether no other organisation's documents may be in the index (the usual
        case of a self-hosted instance, and of a shard an organisation has to
        itself)."""
        return self.positions.held_complete and self.positions.held.keys() <= {org_id}

    # -- writing -------------------------------------------------------------------

    def upsert(self, items: Iterable[IndexedTask], gen: int | None = None) -> int:
        """Replace each task's document (delete by id, then add). Uncommitted."""
        count = 0
        for item in items:
            self._hold(item)
            self._writer.delete_documents_by_term("id", item.task["id"])
            self._writer.add_document(to_document(item, self.positions.gen if gen is None else gen))
            count += 1
        return count

    def add_new(self, item: IndexedTask) -> None:
        """Add a task known not to be indexed yet (a bulk build): no delete first."""
        self._hold(item)
        self._writer.add_document(to_document(item, self.positions.gen))

    def delete_tasks(self, task_ids: Sequence[str]) -> None:
        for task_id in task_ids:
            self._writer.delete_documents_by_term("id", task_id)

    def delete_project(self, project_id: str) -> None:
        self._writer.delete_documents_by_term("project", project_id)

    def delete_older(self, gen: int, org_id: str | None) -> None:
        """Drop documents written before generation `gen` (of one org, or all).
        Once every organisation's are committed, `held` covers the index."""
        older = Query.range_query(self.schema, "gen", tantivy.FieldType.Integer, None, gen - 1)
        parts = [(Occur.Must, older)]
        if org_id is not None:
            parts.append((Occur.Must, Query.term_query(self.schema, "org", org_id)))
        self._writer.delete_documents_by_query(Query.boolean_query(parts))
        if org_id is None:
            self._complete_after_commit = True

    def note(self, project_id: str, version: int) -> None:
        """Record that the project's events up to `version` are in the uncommitted batch."""
        if version > self.pending.get(project_id, 0):
            self.pending[project_id] = version

    def commit(self) -> None:
        """Commit, make the changes searchable, then persist the positions they reach.
        Projects new to `held` are persisted first: a crash after the commit must
        not leave documents no record names."""
        if self._held_unsaved:
            self.save_positions()
        self._writer.commit()
        self.index.reload()
        self.generation += 1
        for project, version in self.pending.items():
            if version > self.positions.projects.get(project, 0):
                self.positions.projects[project] = version
        self.pending = {}
        if self._complete_after_commit:
            self.positions.held_complete = True
            self._complete_after_commit = False
        self.save_positions()

    def save_positions(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".positions-")
        with os.fdopen(fd, "wb") as f:
            f.write(self.positions.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / POSITIONS)
        self._held_unsaved = False

    # -- reading -------------------------------------------------------------------

    def count(self) -> int:
        return int(self.index.searcher().num_docs)

    def searcher(self) -> tantivy.Searcher:
        """The committed index as of now: a search and the lookups it is built
        from (`completions`) use the same one."""
        return self.index.searcher()

    def completions(self, searcher: tantivy.Searcher, word: str) -> tuple[str, ...] | None:
        """The indexed words longer than `word` that begin with it, for matching
        the word being typed; None when `word` is shorter than
        `COMPLETION_MIN_CHARS` or begins more than `COMPLETIONS_MAX` words (a
        regex over the terms then finds them)."""
        if len(word) < COMPLETION_MIN_CHARS:
            return None
        found = searcher.terms_with_prefix("words", word, limit=COMPLETIONS_MAX + 2)
        longer = sorted(term for term, _count in found if term != word)
        return None if len(longer) > COMPLETIONS_MAX else tuple(longer)

    def size_bytes(self) -> int:
        try:
            return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        except FileNotFoundError:  # the files were removed under a running shard
            return 0

    def search(
        self,
        query: Query,
        *,
        sort: Sort | None,
        limit: int,
        offset: int,
        highlight: Query | None = None,
        within: tuple[str, Collection[str]] | None = None,
        searcher: tantivy.Searcher | None = None,
    ) -> Page:
        """Matches of `query`; with `within` (an organisation and the projects the
        caller may read), only that organisation's documents of those projects.
        `searcher`: the one the query was built from (default: the latest)."""
        searcher = self.index.searcher() if searcher is None else searcher
        if within is not None:
            # `held` is read after the searcher: it only grows, so it covers
            # every project whose documents this searcher can see.
            org_id, readable = within
            held, alone = self.held(org_id), self.holds_only(org_id)
            scope = scope_parts(self.schema, org_id, readable, held, alone=alone)
            if scope:
                query = Query.boolean_query([*scope, (Occur.Must, query)])
        generators = (
            {
                name: tantivy.SnippetGenerator.create(searcher, highlight, self.schema, name)
                for name in ("title", "description", "comments")
            }
            if highlight is not None
            else {}
        )
        if sort is not None and sort.key is SortKey.CUSTOM:
            return self._custom_sorted(searcher, query, sort, limit, offset, generators)
        kwargs: dict[str, Any] = {"limit": limit, "offset": offset, "count": True}
        if sort is not None and sort.key is not SortKey.RELEVANCE:
            kwargs["order_by_field"] = _SORT_FIELDS[sort.key]
            kwargs["order"] = Order.Desc if sort.descending else Order.Asc
        result = searcher.search(query, **kwargs)
        # Sorted by a field, the "score" Tantivy returns is that field's value.
        by_field = kwargs.get("order_by_field") is not None
        hits = [
            _hit(searcher.doc(address), None if by_field else float(score), generators)
            for score, address in result.hits
        ]
        return Page(hits, int(result.count or 0))  # type: ignore[attr-defined]

    def _custom_sorted(
        self,
        searcher: tantivy.Searcher,
        query: Query,
        sort: Sort,
        limit: int,
        offset: int,
        generators: dict[str, Any],
    ) -> Page:
        """Order by a custom field's value, read from every match's stored `cfkeys`
        (the schema has no column per field): at most `CUSTOM_SORT_MAX` matches,
        else a ValueError asking for a narrower filter. Ties and tasks without a
        value go by id, the latter last, as in SQL."""
        result = searcher.search(query, limit=CUSTOM_SORT_MAX, count=True)
        total = int(result.count or 0)  # type: ignore[attr-defined]
        if total > CUSTOM_SORT_MAX:
            raise ValueError(
                f"sorting by a custom field orders at most {CUSTOM_SORT_MAX} tasks "
                f"and {total} match; narrow the filter"
            )
        present: list[tuple[Any, str, Any]] = []
        absent: list[tuple[str, Any]] = []
        for _score, address in result.hits:
            doc = searcher.doc(address)
            raw = doc.get_first("cfkeys")
            value = sort_value(orjson.loads(raw), sort) if raw else None
            task_id = str(doc.get_first("id"))
            if value is None:
                absent.append((task_id, doc))
            else:
                present.append((value, task_id, doc))
        present.sort(key=lambda k: k[1])
        present.sort(key=lambda k: k[0], reverse=sort.descending)  # stable: ids stay ordered
        absent.sort(key=lambda k: k[0])
        ordered = [doc for _v, _i, doc in present] + [doc for _i, doc in absent]
        return Page(
            [_hit(doc, None, generators) for doc in ordered[offset : offset + limit]], total
        )
