"""Request bodies of the workflow, board, sprint and bulk endpoints. Requests forbid
unknown fields; the shapes the grain validates further (a workflow as a whole) stay
loose here so the domain's error names the offending part."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from serve_app.schemas import Strict

StatusId = Annotated[str, Field(min_length=1, max_length=32)]
LabelName = Annotated[str, Field(min_length=1, max_length=64)]

BULK_MAX = 500


class WorkflowIn(Strict):
    statuses: list[dict[str, Any]] = Field(max_length=50)
    transitions: list[dict[str, Any]] = Field(max_length=500)
    #: Removed status → the status its tasks move to, in the same commit.
    moves: dict[StatusId, StatusId] = Field(default_factory=dict)
    #: Optional optimistic check: the version the edit was based on.
    version: int | None = None


class LabelIn(Strict):
    name: LabelName
    color: str = Field(default="#8a8f98", pattern=r"^#[0-9a-fA-F]{6}$")


class LabelsIn(Strict):
    labels: list[LabelIn] = Field(max_length=200)


class TransitionIn(Strict):
    to: StatusId


class MoveIn(Strict):
    status: StatusId | None = None
    before_id: UUID | None = None
    after_id: UUID | None = None


class SprintIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    goal: str = Field(default="", max_length=2_000)
    start_date: date | None = None
    end_date: date | None = None


class SprintPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    goal: str | None = Field(default=None, max_length=2_000)
    start_date: date | None = None
    end_date: date | None = None


class SprintScopeIn(Strict):
    add: list[UUID] = Field(default_factory=list, max_length=BULK_MAX)
    remove: list[UUID] = Field(default_factory=list, max_length=BULK_MAX)


class SprintCompleteIn(Strict):
    #: "backlog", "next" (the next planned sprint) or a planned sprint's id.
    move_to: str = Field(default="backlog", max_length=64)


class BulkChanges(Strict):
    status: StatusId | None = None
    assignee_id: UUID | None = None
    sprint_id: UUID | None = None
    labels: list[LabelName] | None = Field(default=None, max_length=50)
    add_labels: list[LabelName] = Field(default_factory=list, max_length=50)
    remove_labels: list[LabelName] = Field(default_factory=list, max_length=50)


class BulkIn(Strict):
    task_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=BULK_MAX
    )
    changes: BulkChanges
