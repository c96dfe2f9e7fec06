"""Request and response bodies. Requests forbid unknown fields, so a client that
sends a server-owned field (`id`, `version`, `reporter_id`, ...) gets 422. No
string of a request may hold a NUL character (`\\u0000`): PostgreSQL's text and
jsonb cannot store one, so it is refused with 422 before anything is written."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

Priority = Literal["none", "low", "medium", "high", "urgent"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = _nul_in(data, "")
        if where is not None:
            raise ValueError(f"{where or 'text'} must not contain a NUL character (\\u0000)")
        return data


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) under `value` holding a NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return here
            found = _nul_in(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_in(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


# -- auth ------------------------------------------------------------------------


class SignupIn(Strict):
    email: EmailStr
    name: str = Field(min_length=1, max_length=120)
    password: str = Field(min_length=8, max_length=1024)
    org_name: str | None = Field(default=None, min_length=1, max_length=120)


class LoginIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    #: A TOTP or recovery code, for accounts with two-factor authentication on.
    otp: str | None = Field(default=None, max_length=32)


class UserOut(BaseModel):
    id: UUID
    email: str
    name: str


class OrgOut(BaseModel):
    id: UUID
    name: str


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token kind, not a secret
    expires_in: int


class SignupOut(TokensOut):
    user: UserOut
    org: OrgOut


class MeOut(BaseModel):
    id: UUID
    email: str
    name: str
    org_id: UUID
    role: str
    team_ids: list[UUID]


# -- projects --------------------------------------------------------------------


class ProjectIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    key: str | None = Field(default=None, pattern=r"^[A-Z]{2,10}$")
    description: str = Field(default="", max_length=10_000)
    team_ids: list[UUID] = Field(default_factory=list, max_length=100)
    settings: dict[str, Any] = Field(default_factory=dict)
    workflow_template: Literal["kanban", "scrum", "bug_tracking"] = "kanban"
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)
    visibility: Literal["org", "private"] = "org"


class ProjectPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=10_000)
    team_ids: list[UUID] | None = Field(default=None, max_length=100)
    settings: dict[str, Any] | None = None
    visibility: Literal["org", "private"] | None = None
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)


class ProjectOut(BaseModel):
    id: UUID
    name: str
    key: str
    description: str
    owner_id: UUID
    team_ids: list[UUID]
    settings: dict[str, Any]
    created_at: datetime
    version: int
    visibility: Literal["org", "private"] = "org"
    time_zone: str = "UTC"


class ProjectList(BaseModel):
    items: list[ProjectOut]


# -- tasks -----------------------------------------------------------------------


class TaskPlanning(Strict):
    """Planning fields shared by create and update; null clears one."""

    parent_id: UUID | None = None
    estimate: float | None = Field(default=None, ge=0, le=10_000, allow_inf_nan=False)
    due_date: date | None = None
    start_date: date | None = None
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=50
    )
    watchers: list[UUID] | None = Field(default=None, max_length=200)
    sprint_id: UUID | None = None
    custom_fields: dict[str, Any] | None = Field(
        default=None,
        max_length=200,
        description="custom field values by field id or name; null clears one",
    )


class TaskIn(TaskPlanning):
    project_id: UUID
    title: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=100 * 1024)
    status: str | None = Field(default=None, min_length=1, max_length=64)
    priority: Priority = "none"
    assignee_id: UUID | None = None


class TaskPatch(TaskPlanning):
    title: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=100 * 1024)
    status: str | None = Field(default=None, min_length=1, max_length=64)
    priority: Priority | None = None
    assignee_id: UUID | None = None


class TaskOut(BaseModel):
    id: UUID
    key: str
    project_id: UUID
    title: str
    description: str
    status: str
    priority: Priority
    assignee_id: UUID | None
    reporter_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int
    rank: str
    parent_id: UUID | None
    estimate: float | None
    due_date: date | None
    start_date: date | None
    labels: list[str]
    watchers: list[UUID]
    sprint_id: UUID | None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class TaskList(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None
