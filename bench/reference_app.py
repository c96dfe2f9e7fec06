"""The reference: plain FastAPI on uvicorn (one worker) answering `GET /tasks/{id}` from a dict.

It serves the very task bodies the benchmark seeded (read from a JSON file mapping
id → body) the way the product does (orjson body, ETag), without auth, database or
actors: the ceiling one Python worker reaches on this machine.

    python -m bench.reference_app --port 8100 --tasks-file tasks.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response


def build_app(tasks: dict[str, dict[str, Any]]) -> FastAPI:
    app = FastAPI(title="Taskhive bench reference")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/tasks/{task_id}")
    async def get_task(task_id: str) -> Response:
        body = tasks.get(task_id)
        if body is None:
            return Response(
                b'{"detail":"task not found"}', status_code=404, media_type="application/json"
            )
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={"ETag": f'"{body["version"]}"'},
        )

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--tasks-file", type=Path, required=True, help="JSON object: id → task body"
    )
    args = parser.parse_args(argv)
    tasks: dict[str, dict[str, Any]] = orjson.loads(args.tasks_file.read_bytes())
    uvicorn.run(
        build_app(tasks),
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
