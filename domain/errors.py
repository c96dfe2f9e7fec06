"""Errors raised by domain rules and mapped to HTTP problems by the API.

    DomainError
     ├── NotFound            404: missing, or not visible to the caller (never 403)
     ├── Unauthenticated     401: no or bad credentials
     ├── Conflict            409: a unique name is taken
     ├── PreconditionFailed  412: `If-Match` names a stale version
     ├── InvalidInput        422: a value breaks a rule; `errors` names the fields
     └── Unavailable         503: try again shortly (fenced grain, storage outage)

Errors are plain data (picklable) so they cross Ray actor boundaries intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: `loc` is the path to it, as in pydantic's errors."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_json(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class DomainError(Exception):
    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail,))


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Unauthenticated(DomainError):
    status = 401
    title = "Unauthenticated"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"

    def __init__(self, detail: str, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.current_version))


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.errors = errors

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.errors))

    @classmethod
    def field(cls, name: str, msg: str) -> InvalidInput:
        return cls(f"{name}: {msg}", (FieldError(("body", name), msg),))


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"
