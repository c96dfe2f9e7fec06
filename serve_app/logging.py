"""Structured logs: one JSON object per line, with the request id, in every process.

`configure` installs `JsonFormatter` on the root logger. Ray runs it in every
worker it starts (API replicas, project hosts, the outbox relay) as the
`worker_process_setup_hook` (see `cluster.stack`), and the CLI runs it for the
driver. A record's `request_id` is the current request's (`storage.telemetry`)
or, inside a Ray actor call made for a request, taken from the task's name
(`actors.router` names it `"<method> <request id>"`).

OpenTelemetry traces (OTLP) are not built: the OTLP exporter package is not
among the dependencies. The request id is the correlation key meanwhile.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import orjson

from storage.telemetry import REQUEST_ID

#: Attributes every LogRecord has; anything else was passed in `extra=` and is kept.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def current_request_id() -> str:
    """The request id of the code running now, "" outside any request (in a
    project host, the one `ProjectHost.invoke` set for the call)."""
    return REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "request_id"?, "exc"?, ...extra}` per line."""

    def __init__(self, process: str = "") -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self._process:
            entry["process"] = self._process
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        return orjson.dumps(entry, default=str).decode()


def configure(level: str | None = None, *, process: str = "") -> None:
    """JSON lines on stderr at `level` (`TASKHIVE_LOG_LEVEL`, default INFO) for the
    root logger; replaces handlers installed before. Safe to call more than once."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(process))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("TASKHIVE_LOG_LEVEL", "INFO")).upper())


def configure_worker() -> None:
    """Ray's `worker_process_setup_hook`: JSON logs in every worker process."""
    configure(process=f"ray-worker-{os.getpid()}")
