"""`GET /api/v1/search`: free text and filters over the caller's readable tasks.

`q` is what the user types (free text, phrases, and any filter of the language);
`filters` is the same language, usually `assignee:me,status:open`. Both are
parsed (`domain.filters`), resolved against the caller's organisation, and
answered by the organisation's search shard actor. The readable project ids
travel with the query and restrict it inside the index, so `total` and pages
never count a task the caller may not see. The last word of `q`, while it is
being typed, also matches as a prefix; when exact words find little the shard
retries with typo tolerance (the cursor remembers which, so pages agree).

`prepare_filter` is shared with the task list and its export, which run the same
predicates in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from domain.errors import InvalidInput, Unavailable
from domain.filters import FilterSyntaxError, combine, parse, resolve
from domain.filters.ast import Sort, SortKey
from domain.filters.needs import NOTHING, Needs, needs_of
from domain.filters.predicates import Predicate
from domain.filters.text import words
from search.messages import SearchRequest, SearchResult, ShardRecovering, UnknownScope
from search.query import has_free_text
from search.scope import FilterFacts, for_index, load_facts
from search.shards import ShardHandles, ShardUnreachable
from serve_app.access import readable_projects
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import decode_cursor, encode_cursor, json_response
from serve_app.security import Principal
from storage.channel import CallTimedOut

router = APIRouter(prefix="/api/v1/search", tags=["search"])

_shards = ShardHandles()

#: Project sets with at least this many ids are sent to a shard by name, once sent.
SCOPE_NAMED_FROM = 64
#: How many names of sent project sets a replica remembers (oldest forgotten first).
SCOPES_REMEMBERED = 512
_scopes_sent: dict[str, None] = {}
_TYPING = re.compile(r"(?:^|[\s(,])([^\s():\",\-][^\s():\",]*)$")


@dataclass(frozen=True, slots=True)
class PreparedFilter:
    predicate: Predicate
    sort: Sort | None
    project_ids: list[UUID]
    #: `project_ids` as text (the search index's terms).
    project_texts: tuple[str, ...]
    facts: FilterFacts
    #: A name for `project_texts` when they are all of the organisation's projects.
    project_texts_key: str | None = None


def parse_param(name: str, text: str | None) -> Any:
    """Parse one query parameter, naming it in the error (400 with the position)."""
    try:
        return parse(text or "")
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(f"{name}: {exc.detail}", exc.position, exc.query) from None


async def prepare_filter(
    ctx: AppContext,
    principal: Principal,
    texts: dict[str, str | None],
    *,
    project_id: UUID | None = None,
    also: Needs = NOTHING,
    index: bool = False,
) -> PreparedFilter:
    """Parse and resolve the filter texts (`{"q": …, "filters": …}`) for the caller,
    limited to the readable projects (and to `project_id` when given).

    Only the facts the query needs are read (`domain.filters.needs`), plus `also`
    (what the caller reads from `facts` itself); `index` when the search index runs
    the predicate rather than PostgreSQL (it needs less, see `search.scope.for_index`).
    """
    query = combine(*(parse_param(name, text) for name, text in texts.items()))
    found = await readable_projects(ctx, principal)
    readable, readable_texts, key = found.ids, found.texts, found.texts_key
    if project_id is not None:
        readable = [p for p in readable if p == project_id]
        readable_texts, key = tuple(str(p) for p in readable), None
    needs = needs_of(query)
    needs = (for_index(needs) if index else needs) | also
    facts = await load_facts(
        ctx.engine,
        org_id=principal.org_id,
        user_id=principal.user_id,
        readable=readable,
        needs=needs,
    )
    predicate, sort = resolve(query, facts.scope)
    return PreparedFilter(predicate, sort, readable, readable_texts, facts, key)


def typing_word(q: str) -> str | None:
    """The word being typed at the end of `q` (no space after it yet), lower case."""
    m = _TYPING.search(q)
    if m is None:
        return None
    found = words(m.group(1))
    return found[-1] if found else None


def _fingerprint(*texts: str) -> str:
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]


#: How long a search waits for a shard that is (re)starting before answering 503.
SHARD_WAIT_S = 5.0


async def run_search(org_id: UUID, request: SearchRequest) -> SearchResult:
    """Ask the organisation's shard. A request whose project set is named goes
    without the ids once this replica has sent them and the shard said it kept
    them, and with them again if the shard no longer has them."""
    deadline = time.monotonic() + SHARD_WAIT_S
    delay = 0.05
    key = request.scope_key
    while True:
        named = key is not None and key in _scopes_sent
        try:
            sent = dataclasses.replace(request, project_ids=None) if named else request
            result: SearchResult = await _shards.call(org_id, "search", sent)
            if key is not None and not named and getattr(result, "scope_kept", False):
                _scopes_sent[key] = None
                while len(_scopes_sent) > SCOPES_REMEMBERED:
                    del _scopes_sent[next(iter(_scopes_sent))]
            return result
        except UnknownScope:
            if not named or key is None:
                raise  # sent with its ids: never refused by name
            _scopes_sent.pop(key, None)  # another search may have dropped it first
            continue  # at once, with the ids
        except ShardUnreachable as exc:  # no such actor yet, or restarting
            if time.monotonic() + delay > deadline:
                raise Unavailable("search is starting; try again shortly") from exc
        except ShardRecovering:
            raise Unavailable("the search index is rebuilding; try again shortly") from None
        except CallTimedOut:
            raise Unavailable("search did not answer in time; try again shortly") from None
        except ValueError as exc:
            raise InvalidInput(f"the query cannot run: {exc}") from None
        # A restarted shard takes a moment to be reachable from this replica.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


@router.get("")
async def search(
    principal: CurrentPrincipal,
    ctx: Ctx,
    q: Annotated[str, Query(max_length=500, description="free text and filters")] = "",
    filters: Annotated[
        str, Query(max_length=2000, description="filters, e.g. assignee:me,status:open")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Response:
    """`{items: [{task, score, highlights}], total, next_cursor}`. Relevance order
    when there is free text, else most recently updated first; `sort:` overrides."""
    return await search_page(ctx, principal, q=q, filters=filters, limit=limit, cursor=cursor)


async def search_page(
    ctx: AppContext, principal: Principal, *, q: str, filters: str, limit: int, cursor: str | None
) -> Response:
    prepared = await prepare_filter(ctx, principal, {"q": q, "filters": filters}, index=True)
    sort = prepared.sort
    if sort is None:
        text = has_free_text(prepared.predicate)
        sort = Sort(SortKey.RELEVANCE) if text else Sort(SortKey.UPDATED, descending=True)
    fingerprint = _fingerprint(q, filters)
    offset, fuzzy = 0, None
    if cursor:
        position = decode_cursor(cursor)
        if position.get("h") != fingerprint or not isinstance(position.get("o"), int):
            raise InvalidInput("cursor belongs to another search")
        offset, fuzzy = max(0, position["o"]), bool(position.get("f"))
    request = SearchRequest(
        org_id=str(principal.org_id),
        project_ids=prepared.project_texts,
        predicate=prepared.predicate,
        sort=sort,
        limit=limit,
        offset=offset,
        prefix=typing_word(q),
        fuzzy=fuzzy,
        scope_key=prepared.project_texts_key
        if len(prepared.project_texts) >= SCOPE_NAMED_FROM
        else None,
    )
    result = await run_search(principal.org_id, request)
    reached = offset + len(result.hits)
    next_cursor = (
        encode_cursor({"o": reached, "f": result.fuzzy, "h": fingerprint})
        if result.hits and reached < result.total
        else None
    )
    items = [
        {"task": hit.task, "score": hit.score, "highlights": hit.highlights} for hit in result.hits
    ]
    return json_response({"items": items, "total": result.total, "next_cursor": next_cursor})
