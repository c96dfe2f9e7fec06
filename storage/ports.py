"""Free TCP ports for listeners started later by another process.

A port found free by binding to port 0 comes from the kernel's ephemeral range,
the same range it draws from for every outgoing connection. Between the moment
the port is found and the moment the server binds it (HAProxy, PostgreSQL,
Redis: seconds later, in another process), any connection on the machine may
take it as its local port, and the server then fails to start ("Address already
in use"). `free_port` picks from below the ephemeral range instead, where the
kernel never assigns ports on its own, so only another explicit listener could
collide. Nor below Ray's worker port range, which Ray checks every port it is
given against.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Above the well-known ports and Ray's own defaults: its client server (10001) and
#: its workers' range (10002-19999), which Ray refuses to overlap with any port it
#: is given.
_LOWEST = 20_000
_TRIES = 200


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports."""
    try:
        low, high = (int(x) for x in _RANGE_FILE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, outside the ephemeral range when there is room
    below it (else any free port)."""
    low, _high = ephemeral_range()
    if low - _LOWEST >= 1_000:
        for _ in range(_TRIES):
            port = random.randrange(_LOWEST, low)  # noqa: S311 - not a secret
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        found: int = sock.getsockname()[1]
        return found
