"""The `pocketshop` command as a user runs it: a real subprocess on a free port."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from pocketshop import __version__

POCKETSHOP = Path(sys.executable).parent / "pocketshop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POCKETSHOP), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_version() -> None:
    result = run("version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pocketshop {__version__}"


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    result = run("migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert database.exists()
    # The planner's statistics gathered too (SQLite keeps them in sqlite_stat1).
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    again = run("migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"})
    assert again.returncode == 0, again.stderr


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    port = free_port()
    process = subprocess.Popen(
        [str(POCKETSHOP), "demo", "--db", str(tmp_path / "demo.db"), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={key: value for key, value in os.environ.items() if not key.startswith("POCKETSHOP")},
    )
    base = f"http://127.0.0.1:{port}"
    banner = ""
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in banner and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            banner += line
        assert "Ctrl-C" in banner, banner
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process, base, banner
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_demo_serves_its_pages(demo: tuple[subprocess.Popen[str], str, str]) -> None:
    process, base, banner = demo
    storefront = re.search(rf"{re.escape(base)}/s/([a-z0-9-]+)", banner)
    assert storefront, banner
    for label in ("Console", "API docs", "Merchant login"):
        assert label in banner

    shop = httpx.get(storefront.group(0))
    assert shop.status_code == 200
    # Link previewers and uptime checks ask with HEAD.
    head = httpx.head(storefront.group(0))
    assert head.status_code == 200
    assert head.content == b""
    assert "小明的手作铺" in shop.text
    # Seeded catalog: grouped products with photos, on sale (a draft and an off-shelf one are not).
    slug = storefront.group(1)
    products = httpx.get(f"{base}/api/v1/shops/{slug}/products").json()["items"]
    assert len(products) == 6
    assert all(product["cover_url"] for product in products)
    assert "手缝植鞣皮短款钱包" in shop.text
    assert httpx.get(f"{base}/").status_code == 200
    assert httpx.get(f"{base}/docs").status_code == 200
    assert "/api/v1/onboarding" in httpx.get(f"{base}/openapi.json").json()["paths"]
    console = httpx.get(f"{base}/console")
    assert console.status_code == 303
    assert console.headers["location"].startswith("/login")
    qr = httpx.get(f"{storefront.group(0)}/qr.png")
    assert qr.headers["content-type"] == "image/png"

    # The demo login works: ask for a code, read it in the dev inbox, log in.
    with httpx.Client(base_url=base) as browser:
        login = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login.text)
        assert token
        sent = browser.post(
            "/login/code", data={"phone": "13800138000", "csrf_token": token.group(1)}
        )
        assert sent.status_code == 200, sent.text
        # The SMS leaves through the outbox right after the response; poll like a user would.
        code = None
        for _attempt in range(50):
            code = re.search(r"\b(\d{6})\b", browser.get("/dev/sms").text)
            if code:
                break
            time.sleep(0.1)
        assert code, "no code in the dev inbox"
        done = browser.post(
            "/login",
            data={"phone": "+8613800138000", "code": code.group(1), "csrf_token": token.group(1)},
        )
        assert done.status_code == 303
        assert "小明的手作铺" in browser.get("/console").text

    # Ctrl-C stops it cleanly.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
