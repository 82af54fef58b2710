"""Browser tests: a real uvicorn server on a free local port, driven by headless Chromium.

Chromium comes from the system (/usr/bin/chromium), never from a Playwright download. Without
it (or without the `playwright` package) the tests are skipped, unless
POCKETSHOP_REQUIRE_BROWSER=1 (as in CI), where a missing browser is a failure.
"""

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from pocketshop import migrate
from pocketshop.app import create_app
from pocketshop.config import Environment, Settings
from tests.servers import serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
REPO_ROOT = Path(__file__).resolve().parents[2]
# Runs before the page's own scripts (and, injected by the browser's tools, outside its CSP):
# every violation of the Content-Security-Policy becomes a console error.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("Content Security Policy violation: " + event.effectiveDirective + " blocked "
    + (event.blockedURI || "inline code") + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


def browser_required() -> bool:
    return os.environ.get("POCKETSHOP_REQUIRE_BROWSER", "") == "1"


def skip_without_playwright() -> None:
    """Called by each browser test module before it imports from playwright: without the
    package the module is skipped (failed where POCKETSHOP_REQUIRE_BROWSER=1) instead of failing
    to import, since collection runs before the _browser_available fixture can say why."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if browser_required():
            raise
        pytest.skip("the playwright package is not installed", allow_module_level=True)


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (install Debian's chromium package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_available() -> None:
    """Skips every test in this folder when Chromium is missing, or fails them in CI."""
    reason = missing_browser_reason()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"POCKETSHOP_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason} (set POCKETSHOP_REQUIRE_BROWSER=1 to fail)")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots go here: $POCKETSHOP_ARTIFACTS, else test-artifacts/screenshots/."""
    configured = os.environ.get("POCKETSHOP_ARTIFACTS")
    path = Path(configured) if configured else REPO_ROOT / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class LiveServer:
    url: str
    app: FastAPI


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a fresh migrated SQLite file, served by uvicorn in a background thread."""
    db_path = tmp_path / "browser.db"
    database_url = f"sqlite+aiosqlite:///{db_path}"
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one,
    # and the migrations call asyncio.run().
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(migrate.upgrade, database_url).result()

    def make_app(url: str) -> FastAPI:
        return create_app(
            Settings(
                env=Environment.test,
                database_url=database_url,
                instance_dir=tmp_path / "instance",
                secret_key="browser-test-secret-key",
                data_key=Fernet.generate_key().decode(),
                public_base_url=url,
                outbox_sweep_seconds=0.2,
            )
        )

    with serving(make_app, probe="/healthz", lifespan="on") as (url, app):
        yield LiveServer(url=url, app=app)


# Package scope, not session: while Playwright's sync API is started it keeps an asyncio loop
# running in the main thread, so the async tests of other folders (and asyncio.run) could not
# run after this folder's tests. Leaving the package stops it.
@pytest.fixture(scope="package")
def playwright(_browser_available: None) -> Iterator["Playwright"]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: "Playwright") -> Iterator["Browser"]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def csp_violations() -> list[str]:
    """What the Content-Security-Policy blocked during a test (the `context` fixture fails
    a test that leaves any here)."""
    return []


@pytest.fixture
def context(
    browser: "Browser", live_server: LiveServer, csp_violations: list[str]
) -> Iterator["BrowserContext"]:
    """A phone: 390x844 CSS pixels at 2x, touch, Chinese; fresh cookies for every test.
    Whatever the test does, a page whose CSP blocks anything fails it: a blocked script or
    handler is a feature that silently stopped working."""
    options: dict[str, Any] = {**PHONE, "base_url": live_server.url}
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def note(message: "ConsoleMessage") -> None:
        if "Content Security Policy" in message.text:
            csp_violations.append(f"{message.page.url if message.page else ''}: {message.text}")

    context.on("console", note)
    yield context
    context.close()
    assert csp_violations == [], "\n".join(csp_violations)


@pytest.fixture
def page(context: "BrowserContext") -> "Page":
    return context.new_page()
