"""An ASGI app served by uvicorn on a free local port, in a thread of its own: the browser
tests' server, and local fakes of the services we call (WeChat Pay, Alipay)."""

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def _listening_socket() -> socket.socket:
    """Bound before uvicorn starts, so no other process can take the port in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_until_up(url: str, thread: threading.Thread, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answers (a 404 of a fake is fine)
        except OSError:
            pass
        if not thread.is_alive():
            raise RuntimeError("the server stopped while starting (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server at {url} did not answer in {timeout}s")
        time.sleep(0.05)


@contextmanager
def serving(
    make_app: Callable[[str], Any], *, probe: str = "/", lifespan: str = "off"
) -> Iterator[tuple[str, Any]]:
    """Serve the app `make_app(base_url)` returns until the block ends; yields (its base
    URL, the app). The port is taken first, so the app can know its own address."""
    sock = _listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = make_app(url)
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="test-server", daemon=True
    )
    thread.start()
    try:
        _wait_until_up(f"{url}{probe}", thread)
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the test server did not stop within 10 s")
