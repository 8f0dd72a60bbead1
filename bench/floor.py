"""The floor: a FastAPI route answering `POST /invocations` with a constant body, run the way
`mlstack serve` runs (one worker, uvloop + httptools, no access log). Nothing Python can serve
over HTTP on this machine is much faster, so the API is judged against it in the same run.

`python -m bench.floor PORT BODY_FILE`
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastapi import FastAPI, Response


def create_floor_app(body: bytes) -> FastAPI:
    app = FastAPI()

    @app.post("/invocations")
    async def invocations() -> Response:
        return Response(body, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


def main(port: int, body_file: Path) -> None:
    import uvicorn

    app = create_floor_app(body_file.read_bytes())
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
