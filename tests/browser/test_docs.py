"""The API docs work in a browser that reaches nothing but this site (as offline, or where
the CDN FastAPI links is blocked): Swagger UI renders the operations."""

from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, skip_without_playwright

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import BrowserContext, Route, expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_the_docs_render_with_every_other_host_blocked(
    context: BrowserContext, live_server: LiveServer, artifacts_dir: Path
) -> None:
    elsewhere: list[str] = []

    def only_here(route: Route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    page.goto(f"{live_server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    assert page.locator(".opblock").count() > 50
    page.screenshot(path=artifacts_dir / "docs.png")
    assert elsewhere == []
