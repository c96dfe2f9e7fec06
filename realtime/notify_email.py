"""Notification emails: rendering (jinja2, HTML and plain text) and the transports.

`render` turns one user's pending notifications into one message — a single
notification, or a digest of several. Transports deliver a message and raise
`DeliveryError` when it was not accepted; the sender then retries later.

- `SmtpTransport` speaks SMTP with aiosmtplib (asyncio-native, typed, actively
  maintained; no thread per send). `smtp://host:port` uses STARTTLS when the
  server offers it, `smtps://` implicit TLS; credentials may be in the URL.
- `FileTransport` writes `.eml` files into a directory: the embedded default
  when no SMTP server is configured, so nothing is lost and mail can be read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from uuid import uuid4

import aiosmtplib
import jinja2

from domain.digest import digest_subject
from storage.breaker import DependencyUnavailable, breaker

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class DeliveryError(Exception):
    """The message was not accepted; retry later."""


@dataclass(frozen=True, slots=True)
class Item:
    """One notification as an email shows it."""

    title: str
    summary: str
    url: str | None


def render(
    *, to_addr: str, from_addr: str, items: Sequence[Item], unsubscribe_url: str
) -> EmailMessage:
    """One email for `items` (oldest first), with plain-text and HTML parts."""
    if not items:
        raise ValueError("an email needs at least one notification")
    subject = digest_subject([i.title for i in items])
    context = {"items": items, "subject": subject, "unsubscribe_url": unsubscribe_url}
    message = EmailMessage()
    message["From"] = from_addr
    message["To"] = to_addr
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_domain_of(from_addr))
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEMPLATES.get_template("notification_email.txt.j2").render(context))
    message.add_alternative(
        _TEMPLATES.get_template("notification_email.html.j2").render(context), subtype="html"
    )
    return message


def _domain_of(address: str) -> str:
    domain = address.rsplit("@", 1)[-1].strip(" >")
    return domain or "taskhive.local"


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Deliver `message`; raise `DeliveryError` unless it was accepted."""
        ...


class SmtpTransport:
    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://host:port or smtps://host:port")
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._implicit_tls else 25)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        gate = breaker("smtp", f"{self._host}:{self._port}")  # a dead server: fail at once
        try:
            await gate.call(
                aiosmtplib.send(
                    message,
                    hostname=self._host,
                    port=self._port,
                    username=self._username,
                    password=self._password,
                    use_tls=self._implicit_tls,
                    # None: STARTTLS when offered (a loopback relay often offers none).
                    start_tls=False if self._implicit_tls else None,
                    timeout=self._timeout_s,
                ),
                timeout_s=self._timeout_s + 5,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError, DependencyUnavailable) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


class FileTransport:
    """Writes each message as `<dir>/<time>-<id>.eml`, atomically (write, then rename)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message.as_bytes())

    def _write(self, data: bytes) -> None:
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid4().hex[:8]}.eml"
            partial = self._directory / f".{name}.tmp"
            partial.write_bytes(data)
            os.replace(partial, self._directory / name)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self._directory}: {exc}") from exc


def transport_for(smtp_url: str | None, mail_dir: Path) -> Transport:
    return SmtpTransport(smtp_url) if smtp_url else FileTransport(mail_dir)
