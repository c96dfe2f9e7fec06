"""The replica's uvicorn: websocket compression only when configured, the
frames of one event-loop turn in one socket write, the frames lane, and HTTP
requests without Serve's disconnect watch or forwarded client addresses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
import uvloop
import websockets
from uvicorn.server import ServerState

from serve_app.replica_server import (
    FRAMES_EXTENSION,
    CorkedHttpToolsProtocol,
    CorkedTransport,
    CorkedWebSocketsProtocol,
    configure_server,
    text_frame,
)
from serve_app.routes.ws import _frame_lane


@pytest.fixture
def restore_uvicorn() -> Iterator[None]:
    original = uvicorn.Config
    yield
    uvicorn.Config = original  # type: ignore[misc]


def _app() -> None:
    return None


@pytest.mark.usefixtures("restore_uvicorn")
def test_the_choices_become_uvicorn_s_defaults_and_an_explicit_argument_still_wins() -> None:
    original = uvicorn.Config
    assert original(_app).ws_per_message_deflate is True  # uvicorn's own default
    configure_server(compression=False)
    assert uvicorn.Config(_app).ws_per_message_deflate is False
    assert uvicorn.Config(_app).ws is CorkedWebSocketsProtocol
    assert uvicorn.Config(_app).http is CorkedHttpToolsProtocol
    assert uvicorn.Config(_app, ws_per_message_deflate=True).ws_per_message_deflate is True
    assert uvicorn.Config(_app, ws="wsproto").ws == "wsproto"
    configure_server(compression=True)  # again: replaces the choice, does not stack
    assert uvicorn.Config(_app).ws_per_message_deflate is True
    assert uvicorn.Config.__mro__[1] is original


class _Recorder(asyncio.Transport):
    """The transport underneath: records what reaches it, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def _next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_of_one_turn_reach_the_socket_as_one_write_in_order() -> None:
    real = _Recorder()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"one ")
    corked.write(bytearray(b"two "))
    corked.write(b"")
    corked.write(memoryview(b"three"))
    assert real.writes == []
    assert corked.get_write_buffer_size() == len(b"one two three")
    await _next_turn()
    assert real.writes == [b"one two three"]
    corked.write(b"four")
    await _next_turn()
    corked.writelines([b"five", b"six"])
    await _next_turn()
    assert real.writes == [b"one two three", b"four", b"fivesix"]
    assert corked.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest is the real one's


async def test_every_connection_written_in_a_turn_is_flushed_at_its_end() -> None:
    loop = asyncio.get_running_loop()
    reals = [_Recorder() for _ in range(3)]
    corked = [CorkedTransport(real, loop) for real in reals]
    for i, transport in enumerate(corked):
        transport.write(b"a%d" % i)
        transport.write(b"b%d" % i)
    corked[1].close()  # closing one early does not disturb the others
    await _next_turn()
    assert [real.writes for real in reals] == [[b"a0b0"], [b"a1b1"], [b"a2b2"]]
    corked[2].write(b"again")
    await _next_turn()
    assert reals[2].writes == [b"a2b2", b"again"]


async def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    real = _Recorder()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"last words")
    corked.close()
    assert real.events == ["write", "close"]
    assert real.writes == [b"last words"]
    await _next_turn()
    assert real.writes == [b"last words"]  # not again

    real = _Recorder()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"never sent")
    corked.abort()
    await _next_turn()
    assert real.events == ["abort"]


async def test_nothing_is_written_to_a_transport_already_closing() -> None:
    real = _Recorder()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"too late")
    real.closing = True  # the peer went away before the turn ended
    await _next_turn()
    assert real.writes == []


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_burst_reaches_a_real_client_as_separate_messages_in_order(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """Through a real uvicorn server (on asyncio's loop and on uvloop's, whose
    transports are not asyncio's classes) and a real websocket client: each
    message sent in one turn is still its own frame, in order; later ones follow."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_burst())


async def _burst() -> None:

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        for i in range(50):  # no await yields in between: one turn
            await send({"type": "websocket.send", "text": f"burst {i}"})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo " + message["text"]})
        await send({"type": "websocket.close", "code": 1000})

    async def check(port: int) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            got = [await client.recv() for _ in range(50)]
            assert got == [f"burst {i}" for i in range(50)]
            await client.send("hello")
            assert await client.recv() == "echo hello"
            with pytest.raises(websockets.ConnectionClosedOK):
                await client.recv()

    await _serve(app, check)


async def _serve(app: Any, check: Callable[[int], Any], **config: Any) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, ws=CorkedWebSocketsProtocol, lifespan="off", log_level="error", **config
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        await check(port)
    finally:
        server.should_exit = True
        await serving


def _lane_app(written: list[bool]) -> Any:
    """Sends `first` through ASGI, then three prepared frames through the lane (the
    second without waiting, `send_now`; through ASGI where the lane declines), then
    `last` through ASGI."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        lane = scope["extensions"][FRAMES_EXTENSION]
        assert lane["loop"] is asyncio.get_running_loop()
        assert await lane["send"](text_frame(b"early")) is False  # not accepted yet
        assert lane["send_now"](text_frame(b"early")) is False
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "first"})
        for text in ("événement 1", "event 2", "x" * 70_000):  # the three length forms
            frame = text_frame(text.encode())
            done = lane["send_now"](frame) if text == "event 2" else await lane["send"](frame)
            written.append(done)
            if not done:
                await send({"type": "websocket.send", "text": text})
        await send({"type": "websocket.send", "text": "last"})
        await send({"type": "websocket.close", "code": 1000})
        assert await lane["send"](text_frame(b"late")) is False  # closed
        assert lane["send_now"](text_frame(b"late")) is False

    return app


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_prepared_frames_go_straight_to_the_connection_in_order_with_the_rest(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    expected = ["first", "événement 1", "event 2", "x" * 70_000, "last"]

    async def scenario() -> None:
        written: list[bool] = []

        async def check(port: int) -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=None) as client:
                assert [await client.recv() for _ in expected] == expected
                with pytest.raises(websockets.ConnectionClosedOK):
                    await client.recv()

        await _serve(_lane_app(written), check, ws_per_message_deflate=False)
        assert written == [True, True, True]

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(scenario())


async def test_with_compression_the_lane_declines_and_messages_go_through_asgi() -> None:
    expected = ["first", "événement 1", "event 2", "x" * 70_000, "last"]
    written: list[bool] = []

    async def check(port: int) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:  # offers deflate
            assert [await client.recv() for _ in expected] == expected

    await _serve(_lane_app(written), check, ws_per_message_deflate=True)
    assert written == [False, False, False]


def test_a_prepared_frame_is_what_the_protocol_itself_would_send() -> None:
    from websockets.frames import Opcode
    from websockets.server import ServerProtocol

    for payload in (b"", b"a" * 125, b"b" * 126, b"c" * 65_535, b"d" * 65_536):
        conn = ServerProtocol()
        conn.state = websockets.protocol.State.OPEN
        conn.send_text(payload)
        assert b"".join(conn.data_to_send()) == text_frame(payload)
        assert text_frame(payload)[0] == 0x80 | Opcode.TEXT.value  # FIN, text, one frame


@pytest.mark.usefixtures("restore_uvicorn")
def test_a_server_s_http_requests_are_marked_unwatched_and_forwarded_for_is_not_taken() -> None:
    configure_server(compression=False)
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append({"headers": dict(scope["headers"]), "client": scope["client"]})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def check(port: int) -> None:
        async with httpx.AsyncClient() as client:
            answer = await client.get(
                f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.7"}
            )
        assert answer.status_code == 204

    asyncio.run(_serve(lambda: app, check, factory=True))
    assert seen[0]["headers"][b"x-request-disconnect-disabled"] == b"?1"
    assert seen[0]["client"][0] == "127.0.0.1"  # not the header's address
    # Not a server's app (Serve runs the app's lifespan through such a Config): as it is.
    assert uvicorn.Config(app).app is app


async def test_an_http_response_s_head_and_body_reach_the_socket_in_one_write() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"11")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})

    config = uvicorn.Config(app, lifespan="off", log_level="error")
    config.load()
    protocol = CorkedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    real = _Recorder()
    protocol.connection_made(real)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: replica\r\n\r\n")
    for _ in range(5):
        await _next_turn()
    assert len(real.writes) == 1
    assert real.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert real.writes[0].endswith(b'\r\n\r\n{"ok":true}')


async def test_the_websocket_route_takes_both_ways_of_the_offered_lane() -> None:
    offered = {
        "loop": asyncio.get_running_loop(),
        "send": CorkedWebSocketsProtocol.send_frame,
        "send_now": CorkedWebSocketsProtocol.send_frame_now,
    }
    socket = SimpleNamespace(scope={"extensions": {FRAMES_EXTENSION: offered}})
    lane = _frame_lane(socket)  # type: ignore[arg-type]
    assert lane is not None
    assert lane.send is offered["send"] and lane.send_now is offered["send_now"]
    elsewhere = SimpleNamespace(scope={"extensions": {FRAMES_EXTENSION: offered | {"loop": None}}})
    assert _frame_lane(elsewhere) is None  # type: ignore[arg-type]
