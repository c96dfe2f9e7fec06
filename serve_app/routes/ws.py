"""`GET /api/v1/ws`: the real-time websocket (protocol in docs/realtime.md).

The access token comes in the first message (`{"type": "auth", "token": ...}`) or
in the `Sec-WebSocket-Protocol` header as `["taskhive", "bearer.<token>"]` (the
server then selects `taskhive`); never in the URL, which ends up in logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from domain.errors import Unauthenticated
from domain.permissions import Action
from realtime.fanout import Fanout
from realtime.protocol import CloseCode, ProtocolError, validate
from realtime.session import FrameLane, Limits, Session
from serve_app.access import authorize_project
from serve_app.context import AppContext, get_ctx
from serve_app.replica_server import FRAMES_EXTENSION, text_frame
from serve_app.security import Principal
from storage import telemetry

router = APIRouter(tags=["realtime"])

AUTH_TIMEOUT_S = 10.0
SUBPROTOCOL = "taskhive"
_BEARER_PREFIX = "bearer."

_fanout: Fanout | None = None


def fanout_for(ctx: AppContext) -> Fanout:
    """The replica's one fan-out, created on first use in the serving event loop."""
    global _fanout
    if _fanout is None:
        if ctx.config.redis_url is None:
            raise RuntimeError("real-time delivery needs Redis")
        _fanout = Fanout(ctx.config.redis_url)
    return _fanout


def _header_token(websocket: WebSocket) -> tuple[str | None, bool]:
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    token = next((p[len(_BEARER_PREFIX) :] for p in offered if p.startswith(_BEARER_PREFIX)), None)
    return token, SUBPROTOCOL in offered


async def _first_message_token(websocket: WebSocket) -> str:
    raw = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
    try:
        message = validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ProtocolError) as exc:
        raise Unauthenticated(f"the first message must be auth: {exc}") from None
    if message["type"] != "auth":
        raise Unauthenticated("the first message must be auth")
    token: str = message["token"]
    return token


def _frame_lane(websocket: WebSocket) -> FrameLane | None:
    """The server's lane for prepared frames, if it offers one on this loop."""
    offered = websocket.scope.get("extensions", {}).get(FRAMES_EXTENSION)
    if offered is None or offered["loop"] is not asyncio.get_running_loop():
        telemetry.WEBSOCKET_SESSIONS_OPENED.labels("asgi").inc()
        return None
    telemetry.WEBSOCKET_SESSIONS_OPENED.labels("prepared").inc()
    return FrameLane(frame=text_frame, send=offered["send"], send_now=offered["send_now"])


@router.websocket("/api/v1/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx = await get_ctx()
    token, wants_subprotocol = _header_token(websocket)
    await websocket.accept(subprotocol=SUBPROTOCOL if wants_subprotocol else None)
    try:
        if token is None:
            token = await _first_message_token(websocket)
        # The same check as every HTTP route: signature, claims, revocation, membership.
        principal = await ctx.auth.authenticate(token)
    except TimeoutError:
        await websocket.close(CloseCode.AUTH_TIMEOUT, "no auth message")
        return
    except Unauthenticated as exc:
        await websocket.close(CloseCode.UNAUTHENTICATED, exc.detail[:120])
        return
    except WebSocketDisconnect:
        return

    async def authorize(project_id: UUID, principal: Principal = principal) -> None:
        # The read check of every HTTP route (the permission matrix), also re-run
        # periodically by the session so lost access ends the subscription.
        await authorize_project(ctx, principal, project_id, Action.READ)

    session = Session(
        websocket,
        user_id=str(principal.user_id),
        fanout=fanout_for(ctx),
        redis=ctx.redis,
        engine=ctx.engine,
        authorize=authorize,
        limits=Limits(
            queue=ctx.config.ws_queue_limit,
            replay=ctx.config.ws_replay_limit,
            reauthorize_s=ctx.config.ws_reauthorize_s,
        ),
        frames=_frame_lane(websocket),
    )
    await session.start()

    async def receive() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await session.handle(await websocket.receive_text())

    # The session may end on its own (a client too slow to keep up): then stop
    # waiting for the client's messages too, so the connection is released.
    receiving = asyncio.create_task(receive())
    ending = asyncio.create_task(session.closed.wait())
    try:
        await asyncio.wait({receiving, ending}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (receiving, ending):
            task.cancel()
        with contextlib.suppress(Exception):
            await session.close()
