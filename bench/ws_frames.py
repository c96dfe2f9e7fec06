"""What a websocket frame costs the server that fans events out, three ways, in one run.

A server process (uvicorn, one event loop, as in a replica) holds N sessions and
sends each of them every event of a steady stream, in bursts of B events per
event-loop turn (B = 1: events one at a time, the usual case; B > 1: a bulk edit
or a resume's replay). A client process (Python's `websockets`, N connections)
counts what arrives. Measured: the server process's CPU per frame delivered.

- `asgi` (the reference): uvicorn's own websocket protocol, each frame sent as
  text through Starlette's `WebSocket.send_text`, as a session did before;
- `corked`: the replica's protocol (`serve_app.replica_server`), same ASGI sends,
  the frames of one turn in one socket write;
- `lane`: the replica's protocol and its frames lane, as sessions send now: the
  event's frame built once, written as it is to every connection.

Only the server side is compared; Serve's own ASGI wrapper, which the replica adds
to each ASGI send, is not in the reference, so the gap in the product is wider.

    python -m bench.ws_frames                       # 200 sessions, bursts of 1 and 10
    python -m bench.ws_frames --sessions 500 --bursts 1,5 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.report import save

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("asgi", "corked", "lane")
#: An `event` message of the usual size (a task's title changed).
EVENT = orjson.dumps(
    {
        "type": "event",
        "project_id": "0b0f3f6e-8f5c-4a57-9a52-2f4f0d6f0c11",
        "version": 1234,
        "event": "task.updated",
        "payload": {
            "task_id": "6f1d2c3b-1a2b-4c5d-8e9f-0a1b2c3d4e5f",
            "changes": {"title": {"from": "Fix the login page", "to": "Fix the login form"}},
            "actor_id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
        },
    }
)


def _server(mode: str, sock: socket.socket, sessions: int, spec: dict[str, Any]) -> None:
    import uvicorn
    from starlette.websockets import WebSocket

    from serve_app.replica_server import FRAMES_EXTENSION, CorkedWebSocketsProtocol, text_frame

    connected: list[Any] = []
    everyone = asyncio.Event()
    done = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        lane = scope["extensions"].get(FRAMES_EXTENSION) if mode == "lane" else None
        connected.append((websocket, lane))
        if len(connected) == sessions:
            everyone.set()
        await done.wait()
        await websocket.close()

    async def stream() -> None:
        await everyone.wait()
        rate, burst, seconds = spec["rate"], spec["burst"], spec["seconds"]
        text = EVENT.decode()
        turns = int(rate * seconds / burst)
        interval = burst / rate
        me = psutil.Process()
        cpu0, start = me.cpu_times(), time.perf_counter()
        for turn in range(turns):
            for _ in range(burst):
                if mode == "lane":
                    frame = text_frame(EVENT)  # once per event
                    for _, lane in connected:
                        await lane["send"](frame)
                else:
                    for websocket, _ in connected:
                        await websocket.send_text(text)
            delay = start + (turn + 1) * interval - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))
        await asyncio.sleep(0.5)  # the last writes leave
        cpu1 = me.cpu_times()
        spent = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        spec["out"].put({"cpu_s": spent, "frames": turns * burst * sessions})
        done.set()

    ws = CorkedWebSocketsProtocol if mode in ("corked", "lane") else "websockets-sansio"
    config = uvicorn.Config(
        app, ws=ws, ws_per_message_deflate=False, lifespan="off", log_level="error"
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        streaming = asyncio.create_task(stream())
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await streaming
        await asyncio.sleep(0.5)
        server.should_exit = True
        await serving

    asyncio.run(main())


def _clients(port: int, sessions: int, expected: int, out: Any) -> None:
    import websockets

    async def one() -> int:
        got = 0
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/", compression=None, max_queue=None
        ) as client:
            async for _ in client:
                got += 1
                if got == expected:
                    break
        return got

    async def main() -> None:
        out.put(sum(await asyncio.gather(*(one() for _ in range(sessions)))))

    asyncio.run(main())


def measure(mode: str, sessions: int, burst: int, rate: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    results = ctx.Queue()
    per_session = int(rate * seconds / burst) * burst
    spec = {"rate": rate, "burst": burst, "seconds": seconds, "out": results}
    server = ctx.Process(target=_server, args=(mode, sock, sessions, spec))
    server.start()
    time.sleep(1.0)  # the server imports and listens
    counted = ctx.Queue()
    clients = ctx.Process(target=_clients, args=(port, sessions, per_session, counted))
    clients.start()
    measured = results.get(timeout=seconds + 120)
    delivered = counted.get(timeout=60)
    server.join(30)
    clients.join(30)
    sock.close()
    return {
        "mode": mode,
        "sessions": sessions,
        "burst": burst,
        "events_per_s": rate,
        "frames": measured["frames"],
        "delivered": delivered,
        "server_cpu_s": round(measured["cpu_s"], 3),
        "server_us_per_frame": round(measured["cpu_s"] / measured["frames"] * 1e6, 2),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| sessions | burst | mode | frames | delivered | server µs/frame | vs asgi |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        reference = next(
            r
            for r in rows
            if r["mode"] == "asgi"
            and r["burst"] == row["burst"]
            and r["sessions"] == row["sessions"]
        )
        ratio = row["server_us_per_frame"] / reference["server_us_per_frame"]
        lines.append(
            f"| {row['sessions']:,} | {row['burst']} | {row['mode']} | {row['frames']:,} "
            f"| {row['delivered']:,} | {row['server_us_per_frame']:.1f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--bursts", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10])
    parser.add_argument("--rate", type=int, default=50, help="events per second")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = [
        measure(mode, args.sessions, burst, args.rate, args.seconds)
        for burst in args.bursts
        for mode in MODES
    ]
    table = markdown(rows)
    text = (
        f"# Websocket frames: server CPU per frame ({os.cpu_count()} CPUs)\n\n"
        f"{args.sessions} sessions, {args.rate} events/s for {args.seconds:g} s, "
        "sent in bursts of the given size per event-loop turn\n\n" + table
    )
    print(text)
    save(args.out, "ws-frames", rows, text)


if __name__ == "__main__":
    main()
