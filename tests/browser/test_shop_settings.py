"""The shop's settings on a phone in headless Chromium: from the console home's shop card to
the settings page, a WeChat ID the form refuses (the message next to its field, what was
typed kept), then saved with a new logo; the storefront shows the customer service.
The merchant is logged in with a session cookie made through the services.

Screenshots: shop-settings-error, shop-settings, shop-settings-store.
Selectors use names, values and structure, never interface text.
"""

import asyncio
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

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

from tests.browser.test_console import shoot

pytestmark = pytest.mark.browser

MERCHANT_PHONE = "+8613800138066"


async def _seed(settings: Settings) -> tuple[str, str]:
    """A shop (no logo yet) and its owner's web session: (slug, signed cookie)."""
    runtime = build(settings)
    try:
        async with runtime.db.transaction() as session:
            owner = await accounts.get_or_create_user(session, MERCHANT_PHONE)
            shop = await open_verified_shop(session, settings, owner, "小明的手作铺")
            token, _auth = await accounts.start_session(session, settings, owner, SessionKind.web)
        return shop.slug, cookie_signer(settings).sign(token).decode()
    finally:
        await runtime.close()


def logo_file(path: Path) -> Path:
    image = Image.new("RGB", (600, 600), "#e4572e")
    image.paste(Image.new("RGB", (300, 300), "#fff7ed"), (150, 150))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_settings_saved_after_a_refusal(
    page: Page,
    context: BrowserContext,
    live_server: LiveServer,
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        slug, cookie = pool.submit(asyncio.run, _seed(live_server.app.state.settings)).result()
    context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server.url}])

    page.goto("/console")
    page.locator("a.shop-settings-link[href='/console/settings']").click()
    page.wait_for_url("**/console/settings")
    expect(page.locator("input[name=name]")).to_have_value("小明的手作铺")

    page.locator("input[name=name]").fill("小明的手作皮具铺")
    page.locator("input[name=service_phone]").fill("139 0013 9000")
    page.locator("input[name=wechat_id]").fill("小明")  # not a WeChat ID
    page.locator("input[name=business_hours]").fill("周一至周五 9:00-18:00")
    page.locator("textarea[name=return_address]").fill("浙江省杭州市西湖区文三路 90 号 小明收")
    page.locator("form.shop-settings button[type=submit]").click()
    page.wait_for_load_state("load")

    # Refused: the message right under the WeChat ID, everything typed still there.
    wechat = page.locator("input[name=wechat_id]")
    expect(wechat).to_have_attribute("aria-invalid", "true")
    expect(page.locator("label:has(input[name=wechat_id]) + .alert[role=alert]")).to_be_visible()
    expect(page.locator(".alert[role=alert]")).to_have_count(1)
    expect(page.locator("input[name=name]")).to_have_value("小明的手作皮具铺")
    expect(page.locator("input[name=service_phone]")).to_have_value("139 0013 9000")
    expect(page.locator("textarea[name=return_address]")).to_have_value(
        "浙江省杭州市西湖区文三路 90 号 小明收"
    )
    wechat.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "shop-settings-error-field.png"))
    shoot(page, artifacts_dir, "shop-settings-error")

    # Refresh after the refusal loads the settings page; it does not post the form again.
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    page.reload()
    expect(page.locator("input[name=name]")).to_have_value("小明的手作铺")
    expect(page.locator(".alert[role=alert]")).to_have_count(0)
    assert [one for one in sent if "/console/settings" in one] == [
        f"GET {live_server.url}/console/settings"
    ]
    page.locator("input[name=name]").fill("小明的手作皮具铺")
    page.locator("input[name=service_phone]").fill("139 0013 9000")
    page.locator("input[name=business_hours]").fill("周一至周五 9:00-18:00")
    page.locator("textarea[name=return_address]").fill("浙江省杭州市西湖区文三路 90 号 小明收")

    wechat.fill("xiaoming_leather")
    page.locator("input[name=logo]").set_input_files(str(logo_file(tmp_path / "店标.jpg")))
    page.locator("form.shop-settings button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/settings\?done=saved$"))
    expect(page.locator(".notice[role=status]")).to_be_visible()
    expect(page.locator("input[name=name]")).to_have_value("小明的手作皮具铺")
    expect(page.locator("input[name=wechat_id]")).to_have_value("xiaoming_leather")
    expect(page.locator(".shop-card img.logo")).to_be_visible()
    # The page fits the phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, artifacts_dir, "shop-settings")

    # A refresh shows the page again, it does not post again.
    page.reload()
    expect(page.locator(".notice[role=status]")).to_be_visible()

    # Buyers see the new name (same link), the customer service and the hours.
    page.goto(f"/s/{slug}")
    expect(page.locator(".shop-name")).to_have_text("小明的手作皮具铺")
    expect(page.locator(".store-contact a[href='tel:+8613900139000']")).to_be_visible()
    expect(page.locator(".store-contact")).to_contain_text("xiaoming_leather")
    expect(page.locator(".store-contact")).to_contain_text("周一至周五 9:00-18:00")
    shoot(page, artifacts_dir, "shop-settings-store")
