"""The actors' call channel over real loopback sockets: calls, errors, trust, failure."""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actors.host import CHANNEL_METHODS
from domain.errors import NotFound
from storage import channel as host_channel
from storage.channel import (
    MAX_REQUEST,
    CallTimedOut,
    Channel,
    ChannelClosed,
    Channels,
    ChannelServer,
    _Frames,
)


class _Host:
    """What the channel dispatches to: answers reads, records who asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[str, str], tuple[Any, ...]]] = []
        self.release = asyncio.Event()

    async def dispatch(self, method: str, context: tuple[str, str], args: tuple[Any, ...]) -> Any:
        self.seen.append((method, context, args))
        if method == "get_task":
            raise NotFound("task not found")
        if method == "list_sprints":  # the slow one: waits until released
            await self.release.wait()
            return ["slow"]
        if method == "get_labels":
            return lambda: None  # not picklable
        return {"method": method, "args": args}


@pytest.fixture
async def host() -> AsyncIterator[tuple[_Host, ChannelServer]]:
    target = _Host()
    server = ChannelServer(target.dispatch, CHANNEL_METHODS)
    await server.start("127.0.0.1")
    yield target, server
    await server.close()


@pytest.fixture
async def connected(
    host: tuple[_Host, ChannelServer],
) -> AsyncIterator[tuple[_Host, ChannelServer, Channel]]:
    """The host above and a replica's channel to it."""
    target, server = host
    channel = await Channel.open(await server.start("127.0.0.1"))
    yield target, server, channel
    channel.close()


async def test_a_call_runs_the_method_with_its_arguments_and_context(
    connected: tuple[_Host, ChannelServer, Channel],
) -> None:
    target, server, channel = connected
    project, task = uuid.uuid4(), uuid.uuid4()
    result = await channel.call("get_task_json", ("req-1", "00-trace"), (project, task))
    assert result == {"method": "get_task_json", "args": (project, task)}
    assert target.seen == [("get_task_json", ("req-1", "00-trace"), (project, task))]
    assert server.calls == 1


async def test_the_host_s_exception_is_raised_in_the_caller(
    connected: tuple[_Host, ChannelServer, Channel],
) -> None:
    _, _, channel = connected
    with pytest.raises(NotFound, match="task not found"):
        await channel.call("get_task", ("r", ""), (uuid.uuid4(),))
    # An unpicklable result comes back as an error that names it, not a hang.
    with pytest.raises((AttributeError, pickle.PicklingError), match="pickle"):
        await channel.call("get_labels", ("r", ""), ())
    # The connection is still good afterwards.
    assert (await channel.call("get_project", ("r", ""), ()))["method"] == "get_project"


async def test_only_the_listed_host_methods_may_be_called(
    connected: tuple[_Host, ChannelServer, Channel],
) -> None:
    target, _, channel = connected
    for method in ("invoke", "close", "passivate_all", "channel_address", "_grain"):
        with pytest.raises(ValueError, match="not a channel method"):
            await channel.call(method, ("r", ""), ())
    assert target.seen == []


async def test_replies_come_back_out_of_order_to_the_right_caller(
    connected: tuple[_Host, ChannelServer, Channel],
) -> None:
    target, _, channel = connected
    slow = asyncio.ensure_future(channel.call("list_sprints", ("slow", ""), ()))
    fast = [channel.call("board_json", (f"r{i}", ""), (i,)) for i in range(50)]
    answers = await asyncio.gather(*fast)
    assert [a["args"] for a in answers] == [(i,) for i in range(50)]
    assert not slow.done()
    target.release.set()
    assert await slow == ["slow"]


async def test_a_connection_without_the_token_is_closed_before_anything_is_unpickled(
    host: tuple[_Host, ChannelServer],
) -> None:
    target, server = host
    ip, port, _ = await server.start("127.0.0.1")
    with pytest.raises(ChannelClosed):
        forged = await Channel.open((ip, port, b"x" * 32))
        await forged.call("get_task_json", ("r", ""), ())
    # A raw client that skips the hello and sends a request frame straight away.
    reader, writer = await asyncio.open_connection(ip, port)
    payload = pickle.dumps(("get_task_json", ("r", ""), ()))
    writer.write(struct.pack("!IQ", len(payload), 1) + payload)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no reply
    writer.close()
    assert target.seen == []
    assert server.calls == 0


async def test_an_oversized_request_is_refused_before_sending_and_closes_a_raw_connection(
    host: tuple[_Host, ChannelServer],
) -> None:
    target, server = host
    address = await server.start("127.0.0.1")
    channel = await Channel.open(address)
    with pytest.raises(ChannelClosed, match="too large"):
        await channel.call("board_json", ("r", ""), (b"x" * (MAX_REQUEST + 1),))
    assert not channel.closed  # refused by the caller: the connection stays good
    assert (await channel.call("board_json", ("r", ""), (1,)))["args"] == (1,)
    # A peer that sends one anyway (after the token) is disconnected.
    reader, writer = await asyncio.open_connection(*address[:2])
    writer.write(struct.pack("!IQ", len(address[2]), 0) + address[2])
    writer.write(struct.pack("!IQ", MAX_REQUEST + 1, 1))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert [m for m, _, _ in target.seen] == ["board_json"]
    channel.close()


async def test_calls_in_flight_fail_with_channel_closed_when_the_host_goes(
    connected: tuple[_Host, ChannelServer, Channel],
) -> None:
    _, server, channel = connected
    waiting = asyncio.ensure_future(channel.call("list_sprints", ("slow", ""), ()))
    await asyncio.sleep(0.05)
    await server.close()
    # Closing the listener leaves accepted connections; the host process dying
    # closes them too, which the transport's abort stands in for here.
    channel._protocol._transport.abort()  # type: ignore[union-attr]
    with pytest.raises(ChannelClosed):
        await waiting
    assert channel.closed


async def test_nothing_listening_raises_channel_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChannelClosed, match="cannot connect"):
        await Channel.open(("127.0.0.1", port, b"t"))


def test_frames_are_split_across_and_within_reads() -> None:
    frames = _Frames(limit=100)
    data = b"".join(struct.pack("!IQ", len(p), i) + p for i, p in enumerate([b"ab", b"", b"xyz"]))
    out = []
    for i in range(0, len(data), 5):
        out += frames.feed(data[i : i + 5])
    assert out == [(0, b"ab"), (1, b""), (2, b"xyz")]
    with pytest.raises(ValueError, match="exceeds"):
        frames.feed(struct.pack("!IQ", 101, 3))


def test_a_call_under_uvloop_which_replicas_and_hosts_run() -> None:
    import uvloop

    async def roundtrip() -> Any:
        target = _Host()
        server = ChannelServer(target.dispatch, CHANNEL_METHODS)
        channel = await Channel.open(await server.start("127.0.0.1"))
        try:
            return await channel.call("get_workflow", ("r", ""), (1,))
        finally:
            channel.close()
            await server.close()

    assert uvloop.run(roundtrip()) == {"method": "get_workflow", "args": (1,)}


async def test_a_server_runs_only_the_methods_it_was_given() -> None:
    target = _Host()
    server = ChannelServer(target.dispatch, frozenset({"search"}))
    channel = await Channel.open(await server.start("127.0.0.1"))
    try:
        assert await channel.call("search", ("", ""), (1,)) == {"method": "search", "args": (1,)}
        with pytest.raises(ValueError, match="not a channel method"):
            await channel.call("get_workflow", ("", ""), ())  # a host's method, not this one's
    finally:
        channel.close()
        await server.close()
    assert [m for m, _, _ in target.seen] == ["search"]


async def test_channels_open_once_reopen_after_a_break_and_wait_after_a_failure(
    host: tuple[_Host, ChannelServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    address = await host[1].start("127.0.0.1")  # the fixture's address: start is idempotent
    asked: list[str] = []

    async def where() -> Any:
        asked.append("host-0")
        return address

    channels = Channels("project host")
    first = await channels.get("host-0", where)
    assert first is not None and await channels.get("host-0", where) is first
    assert asked == ["host-0"]  # the address is asked once per opening

    first.close()  # the connection broke: the next call opens another
    second = await channels.get("host-0", where)
    assert second is not None and second is not first and not second.closed
    assert asked == ["host-0", "host-0"]

    async def gone() -> Any:
        raise ConnectionRefusedError("no such actor")

    channels.drop("host-0")
    await asyncio.sleep(0)  # the opening's done callbacks run on the next loop turn
    assert second.closed  # dropping closes what was open
    assert await channels.get("host-0", gone) is None
    # Within the retry pause nobody asks again: calls go through Ray.
    assert await channels.get("host-0", where) is None
    assert asked == ["host-0", "host-0"]
    monkeypatch.setattr(host_channel, "RETRY_S", 0.0)
    channels.drop("host-0")
    assert await channels.get("host-0", gone) is None
    reopened = await channels.get("host-0", where)  # the pause is over
    assert reopened is not None and not reopened.closed
    reopened.close()


def test_a_channel_opened_on_one_event_loop_is_not_handed_to_another() -> None:
    channels = Channels("search shard")

    async def open_here() -> Any:
        target = _Host()
        server = ChannelServer(target.dispatch, CHANNEL_METHODS)
        address = await server.start("127.0.0.1")

        async def where() -> Any:
            return address

        channel = await channels.get("shard-0", where)
        assert channel is not None
        return server, channel

    async def elsewhere() -> Any:
        async def where() -> Any:
            raise AssertionError("another loop must not open a channel")

        return await channels.get("shard-0", where)

    loop = asyncio.new_event_loop()
    try:
        server, channel = loop.run_until_complete(open_here())
        assert asyncio.run(elsewhere()) is None
        channel.close()
        loop.run_until_complete(server.close())
    finally:
        loop.close()


async def test_a_call_without_a_reply_times_out_and_the_channel_stays_usable(
    connected: tuple[_Host, ChannelServer, Channel],
) -> None:
    target, _, channel = connected
    with pytest.raises(CallTimedOut, match=r"no reply within 0\.1 s"):
        await channel.call("list_sprints", ("stuck", ""), (), timeout_s=0.1)
    assert not channel.closed
    assert await channel.call("get_workflow", ("r", ""), (2,)) == {
        "method": "get_workflow",
        "args": (2,),
    }
    target.release.set()  # the late reply of the timed-out call is dropped
    await asyncio.sleep(0.05)
    assert await channel.call("get_workflow", ("r", ""), (3,)) == {
        "method": "get_workflow",
        "args": (3,),
    }


async def test_the_router_answers_503_when_a_host_does_not_answer(
    host: tuple[_Host, ChannelServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from actors.router import HostRouter
    from domain.errors import Unavailable

    target, server = host
    address = await server.start("127.0.0.1")

    async def where() -> Any:
        return address

    handle = SimpleNamespace(channel_address=SimpleNamespace(remote=where))
    router = HostRouter({"taskhive-host-0": handle})  # type: ignore[dict-item]
    monkeypatch.setattr(host_channel, "CALL_TIMEOUT_S", 0.1)
    try:
        with pytest.raises(Unavailable, match=r"did not answer.*same Idempotency-Key"):
            await router.call(uuid.uuid4(), "list_sprints", "org", "project")
    finally:
        target.release.set()


async def test_concurrent_first_listens_share_one_server() -> None:
    target = _Host()
    server = ChannelServer(target.dispatch, CHANNEL_METHODS)
    try:
        first, second = await asyncio.gather(server.listen(), server.listen())
        assert first == second  # one server (on this Ray node's address, or loopback)
        assert await server.listen() == first
        channel = await Channel.open(first)
        assert await channel.call("board_json", ("", ""), (1,)) == {
            "method": "board_json",
            "args": (1,),
        }
        channel.close()
    finally:
        await server.close()
