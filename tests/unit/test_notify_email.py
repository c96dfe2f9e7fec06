"""Email rendering (jinja2) and the `.eml` file transport of the embedded default."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from realtime.notify_email import FileTransport, Item, SmtpTransport, render

UNSUB = "http://th.example/api/v1/notifications/unsubscribe?token=abc.def"


def test_single_notification_email_has_text_html_and_unsubscribe() -> None:
    message = render(
        to_addr="bob@example.com",
        from_addr="Taskhive <th@example.com>",
        items=[Item("WEB-1: <b>Fix</b>", "Ann assigned WEB-1 to you", "http://th/tasks/WEB-1")],
        unsubscribe_url=UNSUB,
    )
    assert message["Subject"] == "[Taskhive] WEB-1: <b>Fix</b>"
    assert message["List-Unsubscribe"] == f"<{UNSUB}>"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Ann assigned WEB-1 to you" in text and UNSUB in text
    assert "&lt;b&gt;Fix&lt;/b&gt;" in html  # task titles are escaped in HTML
    assert UNSUB in html


def test_digest_lists_every_notification() -> None:
    items = [Item(f"WEB-{i}: t", f"summary {i}", None) for i in range(3)]
    message = render(to_addr="b@x.io", from_addr="t@x.io", items=items, unsubscribe_url=UNSUB)
    assert message["Subject"] == "[Taskhive] 3 new notifications"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"summary {i}" in text for i in range(3))
    with pytest.raises(ValueError):
        render(to_addr="b@x.io", from_addr="t@x.io", items=[], unsubscribe_url=UNSUB)


def test_file_transport_writes_eml_files(tmp_path: Path) -> None:
    message = render(
        to_addr="b@x.io", from_addr="t@x.io", items=[Item("A", "B", None)], unsubscribe_url=UNSUB
    )
    asyncio.run(FileTransport(tmp_path / "mail").send(message))
    files = list((tmp_path / "mail").iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "b@x.io"


def test_smtp_urls() -> None:
    with pytest.raises(ValueError):
        SmtpTransport("http://mail:25")
    SmtpTransport("smtps://user:p%40ss@mail.example")
