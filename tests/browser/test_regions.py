"""The address form's region picker on a phone in headless Chromium, with JavaScript: choosing
a province fills the cities from /api/v1/regions, a city its districts, and the address saves
with its codes; then the merchant's delivery by region on the console's shipping page.

Screenshots: regions-picker, regions-shipping (and /work/screens/h2_* when that folder exists).
Selectors use names, values and structure, never interface text.
"""

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import SESSION_COOKIE, cookie_signer
from pocketshop.accounts.service import SessionKind
from pocketshop.config import Settings
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, browser_required
from tests.commerce import open_verified_shop

try:
    from playwright.sync_api import BrowserContext, Page, expect
except ImportError:  # conftest explains; without POCKETSHOP_REQUIRE_BROWSER=1, skip quietly
    if browser_required():
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.browser

MERCHANT_PHONE = "+8613800138071"
SCREENS = Path("/work/screens")


async def _seed(settings: Settings) -> str:
    """A shop and its owner's web session (the owner is a buyer too): the signed cookie."""
    runtime = build(settings)
    try:
        async with runtime.db.transaction() as session:
            owner = await accounts.get_or_create_user(session, MERCHANT_PHONE)
            await open_verified_shop(session, settings, owner, "小明的手作铺")
            token, _auth = await accounts.start_session(session, settings, owner, SessionKind.web)
        return cookie_signer(settings).sign(token).decode()
    finally:
        await runtime.close()


def _shot(page: Page, artifacts: Path, name: str, *, full: bool = False) -> None:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    if SCREENS.is_dir():
        shutil.copy(path, SCREENS / f"h2_{name}.png")


def test_region_picker_and_shipping_by_region(
    page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        cookie = pool.submit(asyncio.run, _seed(live_server.app.state.settings)).result()
    context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server.url}])

    page.goto("/me/addresses")
    expect(page.locator("button[name=pick]")).to_be_hidden()  # the script took over
    page.locator("input[name=recipient]").fill("李雷")
    page.locator("input[name=phone]").fill("139 0013 9000")
    page.locator("select[name=province_code]").select_option("440000")
    expect(page.locator("select[name=city_code] option[value='440300']")).to_have_count(1)
    page.locator("select[name=city_code]").select_option("440300")
    expect(page.locator("select[name=district_code] option[value='440305']")).to_have_count(1)
    page.locator("select[name=district_code]").select_option("440305")
    page.locator("input[name=detail]").fill("科技园 1 号")
    page.locator("#address-form").scroll_into_view_if_needed()
    _shot(page, artifacts_dir, "regions-picker")
    page.locator("#address-form button[type=submit]:not([name=pick])").click()
    page.wait_for_url("**/me/addresses")
    expect(page.locator(".store-address-entry")).to_have_count(1)
    expect(page.locator(".store-address-entry")).to_contain_text("南山区")

    # A municipality: one city, chosen for the buyer.
    page.locator("select[name=province_code]").select_option("110000")
    expect(page.locator("select[name=city_code]")).to_have_value("110100")
    expect(page.locator("select[name=district_code] option[value='110108']")).to_have_count(1)

    page.goto("/console/shipping")
    page.locator("input[name=extra_440000]").fill("10")
    page.locator("input[name=none_650000]").check()
    page.locator("input[name=none_540000]").check()
    page.locator("form.shipping-regions button[type=submit]").click()
    page.wait_for_load_state("load")
    expect(page.locator("input[name=extra_440000]")).to_have_value("10.00")
    expect(page.locator("input[name=none_650000]")).to_be_checked()
    page.locator("#regions").scroll_into_view_if_needed()
    _shot(page, artifacts_dir, "regions-shipping")
