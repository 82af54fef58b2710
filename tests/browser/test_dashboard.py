"""The dashboard on a phone in headless Chromium: the demo shop's console home with 30 days of
visits and sales, its chart (a tap on a day shows that day's figures), sales by source, the
best sellers, another chart, and the export.

Screenshots: console-dashboard (the screen, and -full), console-dashboard-chart (the chart
after a tap), console-dashboard-visitors.
Selectors use names, values and structure, never interface text.
"""

from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import log_in
from tests.browser.test_storefront import seed_demo_shop, shoot

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

MERCHANT = ("138 0013 8000", "+8613800138000")


def test_the_dashboard_reads_at_a_glance_on_a_phone(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/console", MERCHANT)

    days = page.locator("[data-chart] g.day")
    expect(days).to_have_count(30)
    heights = days.locator("rect.bar").evaluate_all("bars => bars.map(bar => bar.getBBox().height)")
    assert sum(1 for height in heights if height > 0) >= 25, "the demo's days have sales"
    chart = page.locator("[data-chart] svg").bounding_box()
    assert chart
    assert chart["width"] >= 300, "the chart takes the phone's width"
    expect(page.locator(".dashboard .metrics .metric")).to_have_count(6 + 6)
    expect(page.locator(".sources li.source")).to_have_count(5)
    expect(page.locator(".top-products li").first).to_be_visible()
    shoot(page, artifacts_dir, "console-dashboard")

    # A tap on a day: its figures under the chart, its bar marked.
    tip = page.locator(".chart-tip")
    before = tip.inner_text()
    day = days.nth(20)
    day.tap()
    expect(day).to_have_class("day active")
    expect(tip).to_have_text(day.get_attribute("data-tip") or "")
    assert tip.inner_text() != before
    page.locator("[data-chart]").screenshot(path=artifacts_dir / "console-dashboard-chart.png")

    # Another figure on the chart; the export is a file.
    page.locator(".chart-metrics a[href*='chart=visitors']").click()
    page.wait_for_url("**/console?chart=visitors#chart")
    expect(page.locator(".chart-metrics a[aria-current=page]")).to_have_attribute(
        "href", "/console?chart=visitors#chart"
    )
    page.locator("[data-chart]").screenshot(path=artifacts_dir / "console-dashboard-visitors.png")
    with page.expect_download() as download:
        page.locator("a[href='/console/analytics.xlsx']").click()
    assert download.value.suggested_filename.endswith(".xlsx")
