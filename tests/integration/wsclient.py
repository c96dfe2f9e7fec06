"""A small websocket client for the tests: typed waits with deadlines, no blind
sleeps, and nothing skipped is lost (it waits in a backlog for a later read)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect


class WsClient:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.ready: dict[str, Any] = {}
        self.backlog: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls, base_url: str, token: str, *, header_auth: bool = False, **kw: Any
    ) -> WsClient:
        url = base_url.replace("http://", "ws://") + "/api/v1/ws"
        if header_auth:
            protocols: Any = ["taskhive", f"bearer.{token}"]
            conn = await connect(url, subprotocols=protocols, **kw)
        else:
            conn = await connect(url, **kw)
            await conn.send(orjson.dumps({"type": "auth", "token": token}).decode())
        client = cls(conn)
        client.ready = await client.next({"ready"})
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(orjson.dumps(message).decode())

    async def next(self, types: set[str] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """The next message whose type is in `types` (any when None) within `timeout`."""
        for i, held in enumerate(self.backlog):
            if types is None or held["type"] in types:
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {types or 'message'} within {timeout} s")
            message: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.conn.recv(), left))
            if types is None or message["type"] in types:
                return message
            self.backlog.append(message)

    async def subscribe(self, project_id: str, since: int | None = None) -> dict[str, Any]:
        """Send `subscribe`; return the `subscribed`/`snapshot_required`/`error` answer.
        Replayed events stay in the backlog for `events()`."""
        body: dict[str, Any] = {"type": "subscribe", "project_id": project_id}
        if since is not None:
            body["since"] = since
        await self.send(body)
        return await self.next({"subscribed", "snapshot_required", "error"})

    async def events(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return [
            await self.next({"event"}, timeout=max(0.01, deadline - time.monotonic()))
            for _ in range(count)
        ]

    async def close(self) -> None:
        await self.conn.close()
