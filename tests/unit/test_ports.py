"""Ports for listeners started later come from outside the kernel's ephemeral
range, where outgoing connections could take them in the meantime."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from storage import ports
from storage.ports import ephemeral_range, free_port


def test_ports_are_free_and_below_the_ephemeral_range() -> None:
    low, _high = ephemeral_range()
    found = {free_port() for _ in range(50)}
    assert all(20_000 <= p < low for p in found)  # above Ray's worker ports too
    assert len(found) > 1  # not one fixed port
    for port in list(found)[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # nothing holds it


def test_a_port_someone_listens_on_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # A window of 1,000 candidates starting just below the taken port.
        monkeypatch.setattr(ports, "_LOWEST", port - 1)
        monkeypatch.setattr(ports, "ephemeral_range", lambda: (port + 999, 60_999))
        assert port not in {free_port() for _ in range(30)}


def test_without_room_below_the_range_any_free_port_will_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    narrow = tmp_path / "range"
    narrow.write_text("20500\t60999\n")
    monkeypatch.setattr(ports, "_RANGE_FILE", narrow)
    assert ephemeral_range() == (20_500, 60_999)
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
