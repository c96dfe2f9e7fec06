"""Whether the replica's websocket listener offers permessage-deflate.

Serve starts each replica's HTTP server itself (`uvicorn.Config(...)` in
`ray.serve._private.http_util`), without a way to pass uvicorn's
`ws_per_message_deflate`; compression is then negotiated with every browser.
Deflating a fan-out message costs the replica CPU per session (the same event is
compressed once per subscriber, each with its own context) and each session keeps
a compressor (about 64 KiB). `set_websocket_compression` makes the replica's
uvicorn default to the configured choice; call it in the deployment's constructor,
which Serve runs before it starts the replica's server.
"""

from __future__ import annotations

from typing import Any

import uvicorn


def set_websocket_compression(enabled: bool) -> None:
    """Make uvicorn servers created from now on in this process offer
    permessage-deflate only if `enabled` (an explicit argument still wins)."""
    base = getattr(uvicorn.Config, "_taskhive_base", uvicorn.Config)

    class Config(base):  # type: ignore[misc, valid-type]
        _taskhive_base = base

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("ws_per_message_deflate", enabled)
            super().__init__(*args, **kwargs)

    uvicorn.Config = Config  # type: ignore[misc]
