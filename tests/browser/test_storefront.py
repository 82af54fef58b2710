"""A buyer's journey on a phone in headless Chromium: shop home, product page with the SKU
picker, cart, checkout with the inline phone login and a new address, the order page.

Each page is screenshotted (full page) into the artifacts folder and checked for sideways
scrolling and tap targets under 44px. Selectors use names, values and structure (and the demo
shop's product titles, which are data), never interface text.
"""

import asyncio
import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from pocketshop import demo
from pocketshop.accounts.sms import ConsoleSmsSender
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_pages import check_phone_layout
from tests.commerce import ADDRESS
from tests.support import tr

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

BUYER_PHONE = "139 0013 9777"
PRODUCT = "帆布托特包"  # two specs: 颜色 × 尺寸
SOLD_OUT = "扎染方巾"  # the demo's product with no stock in any SKU


def seed_demo_shop(live_server: LiveServer) -> demo.DemoShop:
    """The demo shop, written through the services from a thread of its own (Playwright's
    sync API keeps an event loop running in this one)."""
    settings = live_server.app.state.settings

    async def run() -> demo.DemoShop:
        runtime = build(settings)
        try:
            return await demo.seed(runtime.db, settings, runtime.payments.providers)
        finally:
            await runtime.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def shoot(page: Page, artifacts: Path, name: str) -> None:
    """Two pictures: the screen as the phone first shows it (with the bar fixed at its
    bottom), and the whole page (where a fixed bar is drawn where the screen ended)."""
    page.wait_for_load_state("load")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifacts / f"{name}.png")
    page.screenshot(path=artifacts / f"{name}-full.png", full_page=True)
    check_phone_layout(page)


def sms_code(live_server: LiveServer, e164: str) -> str:
    sender = live_server.app.state.sms
    assert isinstance(sender, ConsoleSmsSender)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in list(sender.sent):  # newest first; notifications go there too
            found = re.search(r"\b(\d{6})\b", message.text)
            if message.phone == e164 and found:
                return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no login code sent to {e164}")


def images_loaded(page: Page, selector: str) -> bool:
    result: bool = page.locator(selector).evaluate_all(
        "imgs => imgs.length > 0 && imgs.every(img => img.complete && img.naturalWidth > 0)"
    )
    return result


def test_buy_on_a_phone(page: Page, live_server: LiveServer, artifacts_dir: Path) -> None:
    shop = seed_demo_shop(live_server)
    # Buyers may hold one unpaid order per shop on this server (the demo's data is seeded).
    app = live_server.app
    app.state.settings = app.state.settings.model_copy(update={"max_unpaid_orders_per_shop": 1})

    # Shop home: the header, group chips, a two-column grid of photos.
    page.goto(f"/s/{shop.slug}")
    expect(page.locator(".shop-name")).to_be_visible()
    cards = page.locator(".product-grid .product-card")
    assert cards.count() >= 4
    first, second = cards.nth(0).bounding_box(), cards.nth(1).bounding_box()
    assert first
    assert second
    assert first["y"] == second["y"], "two columns"
    assert second["x"] > first["x"], "two columns"
    page.wait_for_load_state("networkidle")
    assert images_loaded(page, ".product-grid li:nth-child(-n+2) img")
    expect(page.locator(".chips .chip[aria-current=page]")).to_have_count(1)
    shoot(page, artifacts_dir, "store-home")

    # A product sold out in every SKU: marked on its card, and nothing to press on its page.
    page.locator(".product-card", has_text=SOLD_OUT).click()
    page.wait_for_url(re.compile(r"/p/[0-9a-f]+$"))
    expect(page.locator("button.buy-now")).to_be_disabled()
    expect(page.locator("button.add-to-cart")).to_be_disabled()
    expect(page.locator("button.buy-now")).to_have_text(tr("Sold out"))
    expect(page.locator("input[name=spec0]").first).to_be_disabled()  # no value leads anywhere
    shoot(page, artifacts_dir, "store-product-sold-out")
    page.goto(f"/s/{shop.slug}")

    # A group chip filters the grid.
    page.locator(".chips .chip").nth(2).click()
    page.wait_for_url(re.compile(r"\?group="))
    expect(page.locator(".chips .chip").nth(2)).to_have_attribute("aria-current", "page")
    page.goto(f"/s/{shop.slug}")

    # Product page: gallery, price, SKU picker; the bottom bar stays on screen.
    page.locator(".product-card", has_text=PRODUCT).click()
    page.wait_for_url(re.compile(r"/p/[0-9a-f]+$"))
    expect(page.locator(".gallery img")).to_have_count(3)
    assert images_loaded(page, ".gallery img")
    bar = page.locator(".buy-bar")
    bar_box = bar.bounding_box()
    assert bar_box
    assert bar_box["y"] + bar_box["height"] <= 844 + 1, "buy bar on screen"
    price_before = page.locator("[data-price]").inner_text()
    page.locator("label.spec-value:has(input[name=spec0])").nth(1).click()
    page.locator("label.spec-value:has(input[name=spec1])").nth(1).click()
    expect(page.locator("input[name=spec1]").nth(1)).to_be_checked()
    price_after = page.locator("[data-price]").inner_text()
    assert price_after.startswith("¥")
    assert price_after != price_before
    page.locator("input[name=quantity]").fill("2")
    shoot(page, artifacts_dir, "store-product")

    # The share sheet: the link to copy, its QR code, and the poster to save.
    sheet = page.locator(".share-sheet")
    sheet.locator("summary").click()
    qr = sheet.locator("img.share-qr")
    expect(qr).to_be_visible()
    expect(sheet.locator("[data-share-link]")).to_have_value(re.compile(r"/p/[0-9a-f]+$"))
    # Fetched as the sheet opens; drawn as the phone shows it, it holds the sheet's link.
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=qr.element_handle(), timeout=5000
    )
    [scanned] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    assert scanned.text == sheet.locator("[data-share-link]").input_value()
    sheet.locator("a.share-poster").scroll_into_view_if_needed()
    page.screenshot(path=artifacts_dir / "store-share-sheet.png")
    poster = page.request.get(sheet.locator("a.share-poster").get_attribute("href") or "")
    assert poster.status == 200, poster.text()[:500]
    assert poster.headers["content-type"] == "image/png"
    (artifacts_dir / "store-poster.png").write_bytes(poster.body())
    page.locator("button.add-to-cart").click()

    # Cart: the line, its stepper, the totals and the checkout button.
    page.wait_for_url(f"**/s/{shop.slug}/cart")
    expect(page.locator(".cart-line")).to_have_count(1)
    expect(page.locator(".stepper-count")).to_have_text("2")
    page.locator(".stepper form").nth(1).locator("button").click()  # one more
    expect(page.locator(".stepper-count")).to_have_text("3")
    shoot(page, artifacts_dir, "store-cart")
    page.locator(".buy-bar a.checkout").click()

    # Checkout: log in inline with the SMS code, then the address.
    page.wait_for_url(f"**/s/{shop.slug}/checkout")
    page.locator("input[name=phone]").fill(BUYER_PHONE)
    page.locator(f"form[action='/s/{shop.slug}/checkout/code'] button[type=submit]").click()
    code_input = page.locator("input[name=code]")
    expect(code_input).to_be_visible()
    e164 = page.locator(f"form[action='/s/{shop.slug}/checkout/login'] input[name=phone]")
    code_input.fill(sms_code(live_server, e164.input_value()))
    page.locator(f"form[action='/s/{shop.slug}/checkout/login'] button[type=submit]").click()
    page.wait_for_url(f"**/s/{shop.slug}/checkout")
    expect(page.locator("input[name=recipient]")).to_be_visible()
    expect(page.locator(".summary-lines li")).to_have_count(1)
    for name in ("recipient", "phone", "detail"):
        page.locator(f"#checkout [name={name}]").fill(ADDRESS[name])
    # 浙江省 杭州市 西湖区 from the picker, each list filled once the one above is chosen.
    for level, code in (("province", "330000"), ("city", "330100"), ("district", "330106")):
        picker = page.locator(f"#checkout select[name={level}_code]")
        expect(picker.locator(f"option[value='{code}']")).to_have_count(1)
        picker.select_option(code)
    page.locator("textarea[name=note]").fill("周末送货")
    shoot(page, artifacts_dir, "store-checkout")
    page.locator(".buy-bar button.checkout").click()

    # The order: awaiting payment, with its timeline, lines and address.
    page.wait_for_url(re.compile(r"/me/orders/\d+$"))
    expect(page.locator(".store-order-status.is-pending_payment")).to_be_visible()
    expect(page.locator(".store-timeline li")).to_have_count(1)
    expect(page.locator(".summary-lines li")).to_have_count(1)
    assert ADDRESS["detail"] in page.locator(".store-address").inner_text()
    shoot(page, artifacts_dir, "store-order")

    # The cart is empty now, and the order is in the list.
    page.goto("/me/orders")
    expect(page.locator(".store-order-card")).to_have_count(1)
    shoot(page, artifacts_dir, "store-orders")

    # The address typed at checkout is in the book.
    page.goto("/me/addresses")
    expect(page.locator(".store-address-entry")).to_have_count(1)
    shoot(page, artifacts_dir, "store-addresses")
    # A second address, in Xinjiang, where the demo shop charges extra for shipping.
    form = page.locator("#address-form form")
    for name in ("recipient", "phone"):
        form.locator(f"[name={name}]").fill(ADDRESS[name])
    form.locator("[name=detail]").fill("友好北路 1 号")
    for level, code in (("province", "650000"), ("city", "650100"), ("district", "650102")):
        picker = form.locator(f"select[name={level}_code]")
        expect(picker.locator(f"option[value='{code}']")).to_have_count(1)
        picker.select_option(code)
    form.locator("button[type=submit]").last.click()
    expect(page.locator(".store-address-entry")).to_have_count(2)

    # A second order while the first waits for payment, past this server's limit of one:
    # the checkout says why, and nothing is placed.
    page.goto(f"/s/{shop.slug}")
    page.locator(".product-card", has_text=PRODUCT).click()
    page.wait_for_url(re.compile(r"/p/[0-9a-f]+$"))
    page.locator("label.spec-value:has(input[name=spec0])").nth(0).click()
    page.locator("label.spec-value:has(input[name=spec1])").nth(0).click()
    page.locator("button.add-to-cart").click()
    page.wait_for_url(f"**/s/{shop.slug}/cart")
    page.locator(".buy-bar a.checkout").click()
    page.wait_for_url(f"**/s/{shop.slug}/checkout")
    # Choosing the Xinjiang address shows its shipping and total, as the server priced them;
    # the note beside it says it costs more.
    shipping, total = (
        page.locator("[data-shipping-fee]"),
        page.locator(".buy-bar [data-grand-total]"),
    )
    first_shipping, first_total = shipping.inner_text(), total.inner_text()
    remote = page.locator(".address-choice", has_text="友好北路")
    expect(remote.locator(".address-note")).to_be_visible()
    remote.locator("input[type=radio]").check()
    expect(shipping).to_have_text(remote.locator("input").get_attribute("data-shipping") or "")
    expect(total).to_have_text(remote.locator("input").get_attribute("data-total") or "")
    assert shipping.inner_text() != first_shipping
    shoot(page, artifacts_dir, "store-checkout-remote-address")
    page.locator(".address-choice", has_text=ADDRESS["detail"]).locator("input").check()
    expect(shipping).to_have_text(first_shipping)
    expect(total).to_have_text(first_total)
    page.locator(".buy-bar button.checkout").click()
    alert = page.locator("[data-code=too_many_unpaid_orders]")
    expect(alert).to_be_visible()
    shoot(page, artifacts_dir, "store-checkout-too-many-unpaid")
    page.goto("/me/orders")
    expect(page.locator(".store-order-card")).to_have_count(1)
