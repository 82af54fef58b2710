"""Customers on a phone in headless Chromium: the demo shop's customers (they paid its
orders), one customer's page, a tag added there, and a privilege refused at its field.

Screenshots: console-customers, console-customer.
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


def test_customers_list_and_one_customer(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/console/customers", MERCHANT)
    expect(page.locator("li.customer-row")).to_have_count(2)  # the demo's two paying buyers
    shoot(page, artifacts_dir, "console-customers")

    page.locator("li.customer-row a").first.click()
    page.wait_for_url(re.compile(r"/console/customers/[0-9a-f]{32}$"))
    page.locator("input[name=tag]").fill("老客户")
    page.locator("form[action$='/tags'] button[type=submit]").click()
    expect(page.locator(".tag-chip .tag")).to_have_text(["老客户"])

    # A discount of 100% is refused next to its field, what was typed kept.
    page.locator("input[name=value]").fill("100")
    page.locator("form[action$='/privileges'] button[type=submit]").click()
    expect(page.locator("input[name=value][aria-invalid=true]")).to_have_value("100")
    page.locator("input[name=value]").fill("15")
    page.locator("form[action$='/privileges'] button[type=submit]").click()
    expect(page.locator(".privileges li").first).to_be_visible()
    shoot(page, artifacts_dir, "console-customer")
