"""Promotion on a phone in headless Chromium: the demo merchant's stores and campaign links,
a store's QR code and its staff members' codes; a guest who scans a staff member's code, logs
in and orders is counted for that staff member on the merchant's store page.

Screenshots: console-promote, console-store-qr.
Selectors use names, values and structure, never interface text.
"""

import re
from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import log_in, shoot
from tests.browser.test_storefront import seed_demo_shop

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

MERCHANT = ("138 0013 8000", "+8613800138000")


def test_stores_staff_and_campaign_links_with_their_codes(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/console/promote", MERCHANT)
    expect(page.locator(".source-row")).to_have_count(4)  # two stores, two campaign links
    # The demo's orders of the buyer a staff member brought count for their store.
    lake = page.locator("li.source-row").first
    expect(lake.locator(".hint").last).to_have_text(re.compile(r"[1-9]"))
    shoot(page, artifacts_dir, "console-promote")

    lake.locator("a").click()
    page.wait_for_url(re.compile(r"/console/stores/[0-9a-f]{32}$"))
    qr = page.locator("img.source-qr")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 180  # big enough to scan off a phone's screen
    expect(page.locator(".source-row")).to_have_count(2)  # its two staff members
    link = page.locator(".store-code input[type=text]").input_value()
    assert re.search(r"/s/[^/]+/go/[\w.-]+$", link), link
    shoot(page, artifacts_dir, "console-store-qr")

    # The store's link, opened by a visitor, lands on the shop.
    page.context.clear_cookies()
    page.goto(link.removeprefix(live_server.url))
    expect(page).to_have_url(re.compile(r"/s/[^/]+$"))
