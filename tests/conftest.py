"""Shared test configuration."""

#: The session stack and its connection fixtures, for `tests/integration` and `tests/e2e`.
pytest_plugins = ["tests.stack_fixtures"]
