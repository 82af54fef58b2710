"""The HTTP ceiling: a bare ASGI app answering a fixed body (a page's HTML, read from the file
named by POCKETSHOP_BENCH_BODY) under the same uvicorn settings as `pocketshop serve`.

    python benchmarks/bare_app.py PORT
"""

import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

BODY = Path(os.environ["POCKETSHOP_BENCH_BODY"]).read_bytes()
HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(BODY)).encode()),
    (b"cache-control", b"no-store"),
]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    # Keep in step with cmd_serve in src/pocketshop/cli.py.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
