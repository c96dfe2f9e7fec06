"""The caller's address, as far as it can be known behind Serve's proxy.

A replica's TCP peer is always Serve's own HAProxy (loopback, or another node's
address in a cluster), never the caller, and Ray's HAProxy neither adds nor
removes `X-Forwarded-For`. The caller is known only from that header, and only
when a load balancer we trust wrote it (`trust_forwarded_for`).
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection
from starlette.types import Scope

from serve_app.context import installed_context


def client_ip(scope: Scope, *, trust_forwarded_for: bool, hops: int = 1) -> str | None:
    """The caller's address, or None when it cannot be known.

    Only `X-Forwarded-For` names the caller, and only when trusted: the entry that
    our own load balancers appended, `hops` from the end (1: the last; 2 behind a
    balancer that appends its own address after the client's). Entries before it
    are whatever the client sent. The TCP peer is never used: it is Serve's proxy.
    A header with fewer entries, or an entry that is not an IP address, did not
    come through our balancers as configured: None.
    """
    if not trust_forwarded_for:
        return None
    entries: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":  # several headers are one list, in order
            entries += [e.strip() for e in value.decode("latin-1").split(",") if e.strip()]
    if len(entries) < hops:
        return None
    try:
        return str(ipaddress.ip_address(entries[-hops]))
    except ValueError:
        return None


def caller_ip(request: HTTPConnection) -> str | None:
    """The address the audit log records for a request: the caller's when a trusted
    balancer named it, else None (never the proxy's own address)."""
    ctx = installed_context()
    if ctx is None:
        return None
    return client_ip(
        request.scope,
        trust_forwarded_for=ctx.config.trust_forwarded_for,
        hops=ctx.config.forwarded_for_hops,
    )
