"""Optional OpenTelemetry traces, exported over OTLP/HTTP.

Off unless `TASKHIVE_OTLP_ENDPOINT` is set (the collector's base URL, e.g.
`http://otel-collector:4318`; `/v1/traces` is added) and the `[otel]` extra is
installed. Off, it costs nothing: `span()` hands out one shared no-op context,
`traceparent()` returns "" and OpenTelemetry is never imported.

On, each process that calls `configure` (API replicas, project hosts) exports
its spans in batches from a background thread:

- `HTTP <method> <route>` per request (`serve_app.tracing`), with the route
  template, status and request id;
- `host.<method>` per call into a project host, a child of the request's span:
  the W3C `traceparent` travels with the request id as an argument of
  `ProjectHost.invoke`, which sets them for the call (`INCOMING_TRACEPARENT`);
- `grain.commit` per group commit, a child of the first command of its batch
  (and linked to the others).

The process keeps its own tracer provider rather than installing a global one,
so nothing else in the process (Ray's own instrumentation) changes behaviour.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

ENV = "TASKHIVE_OTLP_ENDPOINT"
_NOOP = contextlib.nullcontext()
_tracer: Any = None
_provider: Any = None


def enabled() -> bool:
    return _tracer is not None


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector base URL (kept if already complete)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def configure(service: str, endpoint: str | None = None) -> bool:
    """Start exporting this process's spans if an endpoint is configured (the
    environment's `TASKHIVE_OTLP_ENDPOINT` when `endpoint` is None). Idempotent;
    returns whether tracing is on. Without the `[otel]` extra it logs and stays off.
    """
    global _tracer, _provider
    if _tracer is not None:
        return True
    endpoint = endpoint if endpoint is not None else os.environ.get(ENV)
    if not endpoint:
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("%s is set but the otel extra is not installed: no traces", ENV)
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=traces_url(endpoint)), schedule_delay_millis=500
        )
    )
    _provider, _tracer = provider, provider.get_tracer("taskhive")
    return True


def shutdown() -> None:
    """Flush and stop exporting (tests; a process exit flushes by itself)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def flush() -> None:
    if _provider is not None:
        _provider.force_flush()


def span(
    name: str,
    *,
    parent: Any = None,
    traceparent: str = "",
    links: Any = (),
    kind: str = "internal",
    attributes: dict[str, Any] | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A span around a block, current within it (a no-op when tracing is off).

    The parent is `parent` (a context from `current_context`), else the
    `traceparent` header value, else whatever span is current. `kind` is an
    OpenTelemetry span kind in lower case (`server`, `client`, `internal`).
    """
    if _tracer is None:
        return _NOOP
    context = parent
    if context is None and traceparent:
        context = _propagator().extract({"traceparent": traceparent})
    return _start(name, context, links, kind, attributes or {})


@contextlib.contextmanager
def _start(
    name: str, context: Any, links: Any, kind: str, attributes: dict[str, Any]
) -> Iterator[Any]:
    from opentelemetry.trace import Link, SpanKind

    linked = [Link(c) for c in links if c is not None]
    with _tracer.start_as_current_span(
        name, context=context, kind=SpanKind[kind.upper()], links=linked, attributes=attributes
    ) as current:
        yield current


def current_context() -> Any:
    """The current trace context (to parent later work on), None when off."""
    if _tracer is None:
        return None
    from opentelemetry import context

    return context.get_current()


def span_context_of(context: Any) -> Any:
    """The span context inside a `current_context()` value (for links), or None."""
    if context is None:
        return None
    from opentelemetry import trace

    found = trace.get_current_span(context).get_span_context()
    return found if found.is_valid else None


def traceparent() -> str:
    """The current span as a W3C `traceparent` value, "" when off or outside a span."""
    if _tracer is None:
        return ""
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    return carrier.get("traceparent", "")


def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


# -- the caller's request id and trace context, inside a project host ----------------

#: Set by `ProjectHost.invoke` for the call it runs (each call is its own asyncio
#: task, so its own context). Not carried in the Ray task's name: a name per
#: request made Ray's per-name task metrics grow without bound in the caller.
INCOMING_TRACEPARENT: contextvars.ContextVar[str] = contextvars.ContextVar(
    "incoming_traceparent", default=""
)


def incoming_traceparent() -> str:
    """In a project host: the caller's `traceparent`, "" when off or not given."""
    if _tracer is None:
        return ""
    return INCOMING_TRACEPARENT.get()
