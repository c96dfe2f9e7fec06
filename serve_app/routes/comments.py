"""Comments on tasks: every write is a command to the project's grain (so it is in
the event stream, live on the board and in the activity), reads go to PostgreSQL.

Bodies are markdown, stored as written; responses add `body_html` (sanitised,
`serve_app.markdown`), the users the body @mentions, and the reactions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import Field

from domain import notifications as mention_rules
from domain.commands import AddComment, DeleteComment, EditComment, ReactToComment
from domain.comments import Comment
from domain.errors import InvalidInput
from domain.permissions import Action
from serve_app.access import access_comment, access_task, is_project_admin
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.idempotency import key_for
from serve_app.markdown import render
from serve_app.responses import decode_cursor, encode_cursor, json_response
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import comments_read
from storage import notifications as people

task_router = APIRouter(prefix="/api/v1/tasks", tags=["comments"])
router = APIRouter(prefix="/api/v1/comments", tags=["comments"])


class CommentIn(Strict):
    # The 64 KB limit is checked in the grain (413); this only stops absurd bodies early.
    body: str = Field(max_length=1024 * 1024)


class ReactionIn(Strict):
    emoji: str = Field(min_length=1, max_length=64)


async def _present(
    ctx: AppContext, principal: Principal, comments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Comment JSON as stored, plus `body_html`, `mentions` and `reactions`."""
    tokens: set[str] = set()
    for c in comments:
        tokens |= mention_rules.mention_tokens(c["body"])
    ids = [UUID(c["id"]) for c in comments]
    async with ctx.reads.connect() as conn:
        members = await people.members_matching(conn, principal.org_id, tokens)
        reactions = await comments_read.reactions(conn, ids, viewer=principal.user_id)
    directory = mention_rules.mention_directory(members)
    out = []
    for c, cid in zip(comments, ids, strict=True):
        mentioned = mention_rules.mentioned_users(c["body"], directory)
        out.append(
            {
                **c,
                "body_html": render(c["body"]),
                "mentions": sorted(str(u) for u in mentioned),
                "reactions": reactions.get(cid, []),
            }
        )
    return out


async def _apply(
    ctx: AppContext, principal: Principal, project_id: UUID, command: Any, request: Request
) -> Any:
    idem = key_for(principal, None, method=request.method, path=request.url.path, body=None)
    return await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)


@task_router.get("/{ref}/comments")
async def list_comments(
    ref: str,
    principal: CurrentPrincipal,
    ctx: Ctx,
    order: Literal["oldest", "newest"] = "oldest",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """A page of the task's comments, oldest first unless `order=newest`."""
    project_id, task_id = await access_task(ctx, principal, ref)
    # The grain says 404 for a deleted task, whose comments went with it.
    await ctx.router.call(project_id, "get_task_json", principal.org_id, project_id, task_id)
    after = None
    if cursor:
        position = decode_cursor(cursor)
        try:
            after = (datetime.fromisoformat(position["c"]), UUID(position["i"]))
            if position["t"] != str(task_id) or position["o"] != order:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("cursor is not one this API returned for this list") from None
    async with ctx.reads.connect() as conn:
        found = await comments_read.list_comments(
            conn,
            org_id=principal.org_id,
            task_id=task_id,
            after=after,
            limit=limit,
            newest_first=order == "newest",
        )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {"c": last.created_at.isoformat(), "i": str(last.id), "t": str(task_id), "o": order}
        )
    items = await _present(ctx, principal, [c.as_json() for c in page])
    return json_response({"items": items, "next_cursor": next_cursor})


@task_router.post("/{ref}/comments", status_code=201)
async def add_comment(
    ref: str,
    body: CommentIn,
    principal: CurrentPrincipal,
    ctx: Ctx,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Comment on a task: markdown up to 64 KB (413 above, 422 when empty). With
    `Idempotency-Key`, a retry returns the first response."""
    return await comment_on(ctx, principal, ref, body, idempotency_key)


async def comment_on(
    ctx: AppContext, principal: Principal, ref: str, body: CommentIn, idempotency_key: str | None
) -> Response:
    project_id, task_id = await access_task(ctx, principal, ref, Action.COMMENT)
    path = f"/api/v1/tasks/{task_id}/comments"
    idem = key_for(principal, idempotency_key, method="POST", path=path, body=body.body)
    command = AddComment(principal.user_id, task_id, body.body)
    reply = await ctx.router.call(project_id, "apply", principal.org_id, project_id, command, idem)
    [out] = await _present(ctx, principal, [reply.body])
    return json_response(out, status=201, headers={"Location": f"/api/v1/comments/{out['id']}"})


async def _one(ctx: AppContext, principal: Principal, comment: Comment) -> Response:
    [out] = await _present(ctx, principal, [comment.as_json()])
    return json_response(out)


@router.get("/{comment_id}")
async def get_comment(comment_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    return await _one(ctx, principal, await access_comment(ctx, principal, comment_id))


@router.patch("/{comment_id}")
async def edit_comment(
    comment_id: UUID, body: CommentIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Replace the body (the author only); the previous body is kept in the history."""
    comment = await access_comment(ctx, principal, comment_id, Action.COMMENT)
    command = EditComment(principal.user_id, comment_id, body.body)
    reply = await _apply(ctx, principal, comment.project_id, command, request)
    [out] = await _present(ctx, principal, [reply.body])
    return json_response(out)


@router.delete("/{comment_id}", status_code=204)
async def delete_comment(
    comment_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Delete a comment: its author, or an admin of the organisation or project."""
    comment = await access_comment(ctx, principal, comment_id, Action.COMMENT)
    admin = comment.author_id != principal.user_id and await is_project_admin(
        ctx, principal, comment.project_id
    )
    command = DeleteComment(principal.user_id, comment_id, admin=admin)
    await _apply(ctx, principal, comment.project_id, command, request)
    return Response(status_code=204)


@router.get("/{comment_id}/history")
async def comment_history(comment_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """Every body the comment had, oldest first; the last is the current one."""
    comment = await access_comment(ctx, principal, comment_id)
    async with ctx.reads.connect() as conn:
        items = await comments_read.revisions(conn, comment=comment)
    for item in items:
        item["body_html"] = render(item["body"])
    return json_response({"items": items})


@router.post("/{comment_id}/reactions")
async def add_reaction(
    comment_id: UUID, body: ReactionIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """React with an emoji; reacting twice with the same one changes nothing."""
    comment = await access_comment(ctx, principal, comment_id, Action.COMMENT)
    command = ReactToComment(principal.user_id, comment_id, body.emoji, add=True)
    await _apply(ctx, principal, comment.project_id, command, request)
    return await _one(ctx, principal, comment)


@router.delete("/{comment_id}/reactions/{emoji}")
async def remove_reaction(
    comment_id: UUID, emoji: str, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """Take the caller's reaction back (nothing happens if there was none)."""
    comment = await access_comment(ctx, principal, comment_id, Action.COMMENT)
    command = ReactToComment(principal.user_id, comment_id, emoji, add=False)
    await _apply(ctx, principal, comment.project_id, command, request)
    return await _one(ctx, principal, comment)
