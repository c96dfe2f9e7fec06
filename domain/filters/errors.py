"""The filter language's one error: a problem at a position of the query text."""

from __future__ import annotations

from typing import Any

from domain.errors import DomainError


class FilterSyntaxError(DomainError):
    """400: the filter does not parse, or a value does not fit its field.

    `position` is the 0-based character offset the problem starts at, so a client
    can point at it; `query` is the text that was parsed.
    """

    status = 400
    title = "Invalid filter"

    def __init__(self, detail: str, position: int = 0, query: str = "") -> None:
        super().__init__(detail)
        self.position = position
        self.query = query

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.position, self.query))

    def extra(self) -> dict[str, Any]:
        return {"position": self.position, "query": self.query}
