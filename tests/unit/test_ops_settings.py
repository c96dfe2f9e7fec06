"""Operations settings: the HTTP bind address and the metrics token check."""

from __future__ import annotations

import pytest

from cluster.settings import Settings
from cluster.stack import Stack
from serve_app.metrics import scrape_allowed


def test_http_host_defaults_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKHIVE_HTTP_HOST", raising=False)
    monkeypatch.delenv("TASKHIVE_HOST", raising=False)
    assert Settings().http_host == "127.0.0.1"


def test_http_host_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKHIVE_HOST", raising=False)
    monkeypatch.setenv("TASKHIVE_HTTP_HOST", "0.0.0.0")
    assert Settings().http_host == "0.0.0.0"
    # the older name still works; the new one wins when both are set
    monkeypatch.setenv("TASKHIVE_HOST", "10.0.0.5")
    assert Settings().http_host == "0.0.0.0"
    monkeypatch.delenv("TASKHIVE_HTTP_HOST")
    assert Settings().http_host == "10.0.0.5"


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123"),
        ("0.0.0.0", "http://127.0.0.1:8123"),
        ("::", "http://[::1]:8123"),
        ("fd00::5", "http://[fd00::5]:8123"),
        ("taskhive.internal", "http://taskhive.internal:8123"),
    ],
)
def test_stack_url_reaches_the_bind_address(bind: str, url: str) -> None:
    assert Stack(Settings(http_host=bind, port=8123)).url == url


def test_metrics_token_is_passed_to_the_app_and_empty_means_unset() -> None:
    stack = Stack(Settings(metrics_token="s3cret", jwt_secret="x" * 32), database_url="pg")
    assert stack.app_config().metrics_token == "s3cret"
    stack = Stack(Settings(metrics_token="", jwt_secret="x" * 32), database_url="pg")
    assert stack.app_config().metrics_token is None


def test_scrape_without_a_configured_token_is_allowed() -> None:
    assert scrape_allowed(None, None)
    assert scrape_allowed("Bearer anything", None)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("Bearer  s3cret ", True),
        (None, False),
        ("", False),
        ("Bearer", False),
        ("Bearer s3cre", False),
        ("Bearer s3cret2", False),
        ("Basic s3cret", False),
        ("s3cret", False),
    ],
)
def test_scrape_needs_the_bearer_token_when_configured(header: str | None, allowed: bool) -> None:
    assert scrape_allowed(header, "s3cret") is allowed


def test_the_task_reference_cache_size_reaches_the_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TASKHIVE_TASK_REF_CACHE_ENTRIES", raising=False)
    settings = Settings(jwt_secret="x" * 32)
    assert Stack(settings, database_url="pg").app_config().task_ref_cache_entries == 1_000_000
    monkeypatch.setenv("TASKHIVE_TASK_REF_CACHE_ENTRIES", "50000")
    settings = Settings(jwt_secret="x" * 32)
    assert Stack(settings, database_url="pg").app_config().task_ref_cache_entries == 50_000
