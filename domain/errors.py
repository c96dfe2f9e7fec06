"""Errors raised by domain rules and mapped to HTTP problems by the API.

    DomainError
     ├── NotFound            404: missing, or not visible to the caller (never 403)
     ├── Unauthenticated     401: no or bad credentials
     ├── Forbidden           403: the credential lacks a scope, or the caller may see
     │                            but not change this (someone else's comment)
     ├── Conflict            409: a unique name is taken, a state forbids the change
     │    ├── TransitionForbidden  the workflow does not allow the status change
     │    └── WipLimitExceeded     the target status is at its WIP limit
     ├── PreconditionFailed  412: `If-Match` names a stale version
     ├── PayloadTooLarge     413: a body or an upload is over its size limit
     ├── InvalidInput        422: a value breaks a rule; `errors` names the fields
     ├── TooManyRequests     429: rate limit or login lockout; `retry_after` seconds
     ├── Unavailable         503: try again shortly (fenced grain, storage outage)
     └── InsufficientStorage 507: the organisation's storage quota is used up

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

    def extra(self) -> dict[str, Any]:
        """Members the problem+json body carries besides type, title, status, detail."""
        return {}

    def as_json(self) -> dict[str, Any]:
        """The error as a problem body member (bulk results carry one per task)."""
        return {"status": self.status, "title": self.title, "detail": self.detail, **self.extra()}


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Unauthenticated(DomainError):
    status = 401
    title = "Unauthenticated"


class Forbidden(DomainError):
    """The caller is known but its credential does not allow this (a token's scope).

    Never used to hide another organisation's resources: those are `NotFound`.
    """

    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class TransitionForbidden(Conflict):
    """A status change the workflow does not allow; `allowed` lists the targets that are."""

    def __init__(self, detail: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.allowed = allowed

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.allowed))

    def extra(self) -> dict[str, Any]:
        return {"allowed": list(self.allowed)}


class WipLimitExceeded(Conflict):
    def __init__(self, detail: str, status_id: str = "", wip_limit: int = 0) -> None:
        super().__init__(detail)
        self.status_id = status_id
        self.wip_limit = wip_limit

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.status_id, self.wip_limit))

    def extra(self) -> dict[str, Any]:
        return {"status_id": self.status_id, "wip_limit": self.wip_limit}


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

    def extra(self) -> dict[str, Any]:
        return {"errors": [e.as_json() for e in self.errors]} if self.errors else {}

    @classmethod
    def field(cls, name: str, msg: str) -> InvalidInput:
        return cls(f"{name}: {msg}", (FieldError(("body", name), msg),))


class TooManyRequests(DomainError):
    """Over a rate limit or locked out after failed logins; retry after `retry_after` s."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.retry_after))

    def extra(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Content too large"


class InsufficientStorage(DomainError):
    status = 507
    title = "Insufficient storage"
