"""Minimal valid values for JSON schemas of an OpenAPI document: enough for a request
to pass validation so the handler's own checks (access first) decide the answer."""

from __future__ import annotations

import re
import uuid
from typing import Any

#: Strings tried, in order, against a schema's `pattern`.
_PATTERN_CANDIDATES = ("x", "ab", "AB", "ABC", "todo", "#8a8f98", "x-1", "ABC-1", "bug", "1")


class NoExample(Exception):
    """The schema needs a hand-written example."""


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A small value valid for `schema` (required properties only)."""
    schema = resolve(spec, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if resolve(spec, o).get("type") != "null"]
            return example(spec, options[0] if options else schema[key][0])
    if "allOf" in schema:
        return example(spec, schema["allOf"][0])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: example(spec, props[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example(spec, schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    raise NoExample(f"no example for schema {schema}")


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "email":
        return f"x-{uuid.uuid4().hex[:8]}@example.com"
    if fmt == "date":
        return "2026-01-05"
    if fmt == "date-time":
        return "2026-01-05T00:00:00Z"
    if fmt in ("uri", "url"):
        return "https://example.com/hook"
    pattern = schema.get("pattern")
    if pattern:
        for candidate in _PATTERN_CANDIDATES:
            if re.search(pattern, candidate):
                return candidate
        raise NoExample(f"no example matches pattern {pattern!r}")
    return "x" * max(1, int(schema.get("minLength", 1)))
