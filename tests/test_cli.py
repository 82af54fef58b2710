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
from pocketshop.accounts.service import display_phone

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


def sms_code(client: httpx.Client, phone: str) -> str:
    """The newest login code texted to `phone` (as the SMS inbox shows it): the SMS leaves
    through the outbox right after the response, so poll like a user would."""
    for _attempt in range(50):
        inbox = client.get("/dev/sms").text
        for row in re.findall(r'<article class="sms">.*?</article>', inbox, re.S):
            code = re.search(r"\b(\d{6})\b", row)
            if phone in row and code:
                return code.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no code for {phone} in the dev inbox")


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
        done = browser.post(
            "/login",
            data={
                "phone": "+8613800138000",
                "code": sms_code(browser, "138 0013 8000"),
                "csrf_token": token.group(1),
            },
        )
        assert done.status_code == 303
        assert "小明的手作铺" in browser.get("/console").text

    # Ctrl-C stops it cleanly.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0


def api_log_in(client: httpx.Client, phone: str) -> dict[str, str]:
    sent = client.post("/api/v1/auth/sms-codes", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    code = sms_code(client, display_phone(f"+86{phone}"))
    token = client.post("/api/v1/auth/tokens", json={"phone": phone, "code": code})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.slow
def test_the_demo_tells_its_users_and_logs_no_line_per_payment(
    demo: tuple[subprocess.Popen[str], str, str],
) -> None:
    process, base, _banner = demo
    with httpx.Client(base_url=base) as client:
        # The seed's notifications: texted (the SMS inbox) and in the merchant's inbox.
        merchant = api_log_in(client, "13800138000")
        inbox = client.get("/api/v1/me/notifications", headers=merchant).json()
        assert inbox["items"], "the merchant's inbox is empty"
        seeded_sms = client.get("/dev/sms").text
        assert any(item["title"] in seeded_sms for item in inbox["items"]), seeded_sms

        # A buyer pays their unpaid order in the sandbox: its notification calls back.
        buyer = api_log_in(client, "13700137000")
        orders = client.get("/api/v1/orders", headers=buyer).json()["items"]
        number = next(order["number"] for order in orders if order["status"] == "pending_payment")
        started = client.post(
            f"/api/v1/orders/{number}/payments",
            json={"provider": "sandbox", "channel": "page"},
            headers=buyer,
        )
        assert started.status_code == 201, started.text
        pay_page = started.json()["next"]["redirect_url"].removeprefix(base)
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(pay_page).text)
        assert token
        pressed = client.post(f"{pay_page}/pay", data={"csrf_token": token.group(1)})
        assert pressed.status_code == 303, pressed.text
        state = ""
        for _attempt in range(100):
            state = client.get(f"/api/v1/orders/{number}", headers=buyer).json()["status"]
            if state == "paid":
                break
            time.sleep(0.1)
        assert state == "paid"
        # The merchant is told: a new notification for that order.
        told = client.get("/api/v1/me/notifications", headers=merchant).json()["items"]
        assert any(number in item["body"] for item in told), told

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    assert process.stdout is not None
    logged = process.stdout.read()
    assert "SMS to +8613700137000" in logged  # INFO lines are in what is read
    assert "HTTP Request" not in logged, logged
