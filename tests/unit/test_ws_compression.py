"""The replica's uvicorn offers websocket compression only when configured to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import uvicorn

from serve_app.ws_compression import set_websocket_compression


@pytest.fixture
def restore_uvicorn() -> Iterator[None]:
    original = uvicorn.Config
    yield
    uvicorn.Config = original  # type: ignore[misc]


def _app() -> None:
    return None


@pytest.mark.usefixtures("restore_uvicorn")
def test_the_choice_becomes_uvicorn_s_default_and_an_explicit_argument_still_wins() -> None:
    original = uvicorn.Config
    assert original(_app).ws_per_message_deflate is True  # uvicorn's own default
    set_websocket_compression(False)
    assert uvicorn.Config(_app).ws_per_message_deflate is False
    assert uvicorn.Config(_app, ws_per_message_deflate=True).ws_per_message_deflate is True
    set_websocket_compression(True)  # again: replaces the choice, does not stack
    assert uvicorn.Config(_app).ws_per_message_deflate is True
    assert uvicorn.Config.__mro__[1] is original
