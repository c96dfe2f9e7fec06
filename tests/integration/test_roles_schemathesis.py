"""Property-based requests from `/openapi.json` (schemathesis), authenticated as an
organisation owner, a few examples per operation: no response is a server error,
and every response body matches the schema the operation declares."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

# Imported here rather than lazily inside `from_url`, deep in a running test:
# CPython 3.11.7's AST constructor can fail there ("recursion depth mismatch")
# while pytest rewrites the module's asserts.
from schemathesis.specs.openapi.schemas import OpenApiSchema  # noqa: F401

#: Operations left out, with why.
SKIPPED = {
    # A changed password revokes the token the rest of the run uses.
    "POST /api/v1/users/me/password": "revokes the session under test",
    "POST /api/v1/auth/logout": "revokes sessions (harmless, but pointless to fuzz)",
    # Streams a file upload from the raw body; not described as a JSON schema.
    "POST /api/v1/tasks/{ref}/attachments": "multipart upload handled outside the schema",
}


@pytest.fixture(scope="module")
def owner_headers(base_url: str) -> dict[str, str]:
    body = {
        "email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com",
        "name": "Fuzz",
        "password": "correct horse",
    }
    r = httpx.post(f"{base_url}/api/v1/auth/signup", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_no_server_errors_and_responses_match_the_schema(
    base_url: str, owner_headers: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        key = f"{operation.method.upper()} {operation.path}"
        if key in SKIPPED:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=3,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                base_url=base_url,
                headers=owner_headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        checked += 1
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
            failures.append(f"{key}: {str(exc)[:600]}")
    assert checked >= 50
    assert not failures, "\n\n".join(failures)
