"""The plain data that crosses into a shard actor (picklable, no Tantivy objects)."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.filters.ast import Sort
from domain.filters.predicates import Predicate
from search.schema import IndexedTask


@dataclass(frozen=True, slots=True)
class ApplyBatch:
    """The index changes of one project's delivered events, up to `version`."""

    project_id: str
    version: int
    items: tuple[IndexedTask, ...] = ()
    gone: tuple[str, ...] = ()
    drop_project: bool = False


@dataclass(frozen=True, slots=True)
class SearchRequest:
    org_id: str
    #: The projects the caller may read: the query never leaves them. None: the
    #: set named `scope_key`, sent to this shard before (`UnknownScope` if not).
    project_ids: tuple[str, ...] | None
    predicate: Predicate
    sort: Sort | None
    limit: int = 20
    offset: int = 0
    #: The word being typed (matched as a prefix too), if any.
    prefix: str | None = None
    #: None: decide (exact first, fuzzy if that finds little); else as given.
    fuzzy: bool | None = None
    highlight: bool = True
    #: A name for `project_ids` (`domain.permissions.OrgProjects.texts_key`): the
    #: shard keeps the sets it was sent by name, so an organisation's thousand
    #: project ids cross once, not with every search.
    scope_key: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    task: dict[str, object]
    score: float | None
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: tuple[SearchHit, ...]
    total: int
    #: Whether typo tolerance was used (the next page must use it too).
    fuzzy: bool
    #: Whether the shard kept the request's named project set: only then does the
    #: replica send the name alone (a shard of an earlier release, whose answers
    #: lack this field, would read a missing set as no project at all).
    scope_kept: bool = False


class ShardRecovering(RuntimeError):
    """The shard is still rebuilding after a start: its answers would be incomplete."""


class UnknownScope(LookupError):
    """A request named a project set the shard does not keep (it restarted, or
    dropped the set): the caller sends the ids again."""
