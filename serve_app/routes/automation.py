"""`/api/v1/projects/{id}/rules`: automation rules and the log of their runs.

Project admins manage rules; a rule acts as the person who created it. See
`domain.automation` for triggers, conditions and actions, and docs/automation.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy import select

from domain import automation as rules
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.filters import parse, resolve
from serve_app.access import access_project, is_project_admin
from serve_app.client_address import caller_ip
from serve_app.context import AppContext, Ctx, CurrentPrincipal
from serve_app.responses import json_response
from serve_app.schemas import Strict
from serve_app.security import Principal
from storage import accounts
from storage import automation as store
from storage import tables as t

router = APIRouter(prefix="/api/v1/projects/{project_id}/rules", tags=["automation"])


class RuleIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    trigger: dict[str, Any]
    condition: str = Field(default="", max_length=2000, description="a filter, e.g. priority:high")
    actions: list[dict[str, Any]] = Field(min_length=1, max_length=10)
    enabled: bool = True


class RulePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    trigger: dict[str, Any] | None = None
    condition: str | None = Field(default=None, max_length=2000)
    actions: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=10)
    enabled: bool | None = None


async def _admin(ctx: AppContext, principal: Principal, project_id: UUID) -> None:
    await access_project(ctx, principal, project_id)
    if not await is_project_admin(ctx, principal, project_id):
        raise Forbidden("managing automation rules needs an admin of the project")


async def _checked(
    ctx: AppContext, principal: Principal, project_id: UUID, values: dict[str, Any]
) -> dict[str, Any]:
    """Validated rule properties; people and webhooks must be the organisation's,
    and the condition's names (custom fields, options, statuses) the project's."""
    out = dict(values)
    if "name" in out:
        out["name"] = rules.check_name(out["name"])
    if "trigger" in out:
        trigger = rules.check_trigger(out["trigger"])
        out["trigger"] = trigger.as_json()
        timed = trigger.type in rules.TIMED
        out["next_run_at"] = trigger.next_firing(datetime.now(UTC)) if timed else None
    if "condition" in out:
        out["condition"] = rules.check_condition(out["condition"])
        if out["condition"]:
            async with ctx.engine.connect() as conn:
                scope, _ = await store.condition_scope(
                    conn,
                    org_id=principal.org_id,
                    project_id=project_id,
                    me=principal.user_id,
                    now=datetime.now(UTC),
                )
            resolve(parse(out["condition"]), scope)  # a FilterSyntaxError is a 400
    if "actions" in out:
        out["actions"] = rules.check_actions(out["actions"])
        await _check_references(ctx, principal, out["actions"])
    return out


async def _check_references(
    ctx: AppContext, principal: Principal, actions: list[dict[str, Any]]
) -> None:
    people = {UUID(a["user_id"]) for a in actions if a["type"] == "assign" and a["user_id"]}
    people |= {UUID(u) for a in actions if a["type"] == "notify" for u in a["user_ids"]}
    hooks = {UUID(a["webhook_id"]) for a in actions if a["type"] == "call_webhook"}
    m, w = t.org_members.c, t.webhooks.c
    async with ctx.engine.connect() as conn:
        if people:
            found = set(
                await conn.scalars(
                    select(m.user_id).where(
                        m.org_id == principal.org_id, m.user_id.in_(list(people))
                    )
                )
            )
            if people - found:
                raise InvalidInput.field("actions", f"{sorted(people - found)[0]} is not a member")
        if hooks:
            found = set(
                await conn.scalars(
                    select(w.id).where(w.org_id == principal.org_id, w.id.in_(list(hooks)))
                )
            )
            if hooks - found:
                raise InvalidInput.field("actions", f"no webhook {sorted(hooks - found)[0]}")


@router.post("", status_code=201)
async def create_rule(
    project_id: UUID, body: RuleIn, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    """A rule: `trigger`, an optional `condition` (the filter language), `actions`."""
    await _admin(ctx, principal, project_id)
    values = await _checked(ctx, principal, project_id, body.model_dump())
    async with ctx.engine.begin() as conn:
        row = await store.create_rule(
            conn,
            org_id=principal.org_id,
            project_id=project_id,
            created_by=principal.user_id,
            **values,
        )
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="automation.rule_created",
            target_type="automation_rule",
            target_id=str(row.id),
            client_ip=caller_ip(request),
            details={"name": row.name, "project_id": str(project_id)},
        )
    return json_response(store.rule_json(row), status=201)


@router.get("")
async def list_rules(project_id: UUID, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    await access_project(ctx, principal, project_id)
    async with ctx.engine.connect() as conn:
        rows = await store.list_rules(conn, org_id=principal.org_id, project_id=project_id)
    return json_response({"items": [store.rule_json(r) for r in rows]})


async def _rule(ctx: AppContext, principal: Principal, project_id: UUID, rule_id: UUID) -> Any:
    async with ctx.engine.connect() as conn:
        row = await store.get_rule(
            conn, org_id=principal.org_id, project_id=project_id, rule_id=rule_id
        )
    if row is None:
        raise NotFound("rule not found")
    return row


@router.get("/{rule_id}")
async def get_rule(
    project_id: UUID, rule_id: UUID, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    await access_project(ctx, principal, project_id)
    return json_response(store.rule_json(await _rule(ctx, principal, project_id, rule_id)))


@router.patch("/{rule_id}")
async def update_rule(
    project_id: UUID,
    rule_id: UUID,
    body: RulePatch,
    request: Request,
    principal: CurrentPrincipal,
    ctx: Ctx,
) -> Response:
    """Change a rule; `enabled: true` switches it back on with a clean failure count."""
    await _admin(ctx, principal, project_id)
    values = body.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None:
            raise InvalidInput.field(name, "must not be null")
    if not values:
        raise InvalidInput("nothing to change")
    values = await _checked(ctx, principal, project_id, values)
    async with ctx.engine.begin() as conn:
        row = await store.update_rule(
            conn, org_id=principal.org_id, project_id=project_id, rule_id=rule_id, values=values
        )
        if row is None:
            raise NotFound("rule not found")
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="automation.rule_updated",
            target_type="automation_rule",
            target_id=str(rule_id),
            client_ip=caller_ip(request),
            details={"changed": sorted(values)},
        )
    return json_response(store.rule_json(row))


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(
    project_id: UUID, rule_id: UUID, request: Request, principal: CurrentPrincipal, ctx: Ctx
) -> Response:
    await _admin(ctx, principal, project_id)
    async with ctx.engine.begin() as conn:
        if not await store.delete_rule(
            conn, org_id=principal.org_id, project_id=project_id, rule_id=rule_id
        ):
            raise NotFound("rule not found")
        await accounts.audit(
            conn,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action="automation.rule_deleted",
            target_type="automation_rule",
            target_id=str(rule_id),
            client_ip=caller_ip(request),
        )
    return Response(status_code=204)


@router.get("/{rule_id}/runs")
async def list_runs(
    project_id: UUID,
    rule_id: UUID,
    principal: CurrentPrincipal,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The rule's executions, newest first: the triggering event, the outcome
    (`succeeded`, `skipped`, `failed`, `loop_stopped`, or still `pending`)."""
    await access_project(ctx, principal, project_id)
    await _rule(ctx, principal, project_id, rule_id)
    async with ctx.engine.connect() as conn:
        rows = await store.runs_of(conn, rule_id, limit)
    return json_response({"items": [store.run_json(r) for r in rows]})
