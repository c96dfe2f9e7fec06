"""Request and response bodies of sessions (refresh, logout), password changes and
personal API tokens. Requests forbid unknown fields, like all others."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from serve_app.schemas import Strict

Scope = Literal["read", "write", "admin"]


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(Strict):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class ApiTokenIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenOut(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    scopes: list[Scope]
    expires_at: datetime | None
    created_at: datetime


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="the secret; shown only in this response")


class ApiTokenList(BaseModel):
    items: list[ApiTokenOut]
