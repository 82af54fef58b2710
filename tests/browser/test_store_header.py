"""A shop's pages on a phone: one compact header (the shop, search, cart, the account menu)
instead of the site's top bar over a second shop strip; and a refused add to the cart told
next to the SKU picker, scrolled into view between the header and the fixed buy bar."""

import re
from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_pages import check_phone_layout

skip_without_playwright()  # before the imports below, which need the package
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_console import log_in  # noqa: E402
from tests.browser.test_storefront import PRODUCT, seed_demo_shop, shoot  # noqa: E402

pytestmark = pytest.mark.browser

BUYER = ("139 0013 9000", "+8613900139000")  # the demo's buyer with orders


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found, selector
    return dict(found)


def test_one_compact_header(page: Page, live_server: LiveServer, artifacts_dir: Path) -> None:
    shop = seed_demo_shop(live_server)
    page.goto(f"/s/{shop.slug}")
    expect(page.locator("body > header")).to_have_count(1)
    expect(page.locator(".store-bar .store-bar-name")).to_be_visible()
    expect(page.locator(".store-bar-login")).to_be_visible()
    expect(page.locator(f".store-bar a[href='/s/{shop.slug}/cart']")).to_be_visible()
    assert box(page, ".store-bar")["height"] <= 60
    shoot(page, artifacts_dir, "store-header-guest")

    # Every page of the shop has the same one header; pages outside it keep the site's.
    page.locator(".store-bar-cart").click()
    page.wait_for_url(f"**/s/{shop.slug}/cart")
    expect(page.locator("body > header.store-bar")).to_have_count(1)
    expect(page.locator("main header, main .store-nav")).to_have_count(0)
    page.goto("/")
    expect(page.locator("body > header.topbar:not(.store-bar)")).to_have_count(1)

    # Logged in: the account menu opens under the header, without leaving the page.
    log_in(page, live_server, f"/s/{shop.slug}", who=BUYER)
    expect(page.locator(".store-bar-login")).to_have_count(0)
    menu = page.locator(".store-bar-menu")
    expect(menu).to_be_hidden()
    page.locator(".store-bar-me > summary").click()
    expect(menu.locator("a[href='/me/orders']")).to_be_visible()
    expect(menu.locator("a[href='/me/notifications']")).to_be_visible()
    # A buyer without a shop is invited by the shop they are in.
    expect(menu.locator(f"a[href='/onboarding?from={shop.slug}']")).to_be_visible()
    expect(menu.locator("form[action='/logout'] button")).to_be_visible()
    page.wait_for_load_state("load")
    page.screenshot(path=artifacts_dir / "store-header-buyer.png")
    check_phone_layout(page)
    page.locator(".store-bar-me > summary").click()
    expect(menu).to_be_hidden()


def test_a_refused_add_is_told_at_the_picker(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    shop = seed_demo_shop(live_server)
    page.goto(f"/s/{shop.slug}")
    page.locator(".product-card", has_text=PRODUCT).click()
    page.wait_for_url(re.compile(r"/p/[0-9a-f]+$"))
    page.locator("label.spec-value:has(input[name=spec0])").nth(1).click()
    page.locator("button.add-to-cart").click()  # no size chosen

    page.wait_for_url(re.compile(r"\?error=spec_required&.*#buy$"))
    alert = page.locator("fieldset[data-dimension='1'] [role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_be_in_viewport()
    shown = box(page, "fieldset[data-dimension='1'] [role=alert]")
    assert shown["y"] >= box(page, ".store-bar")["height"] - 1, "not under the header"
    assert shown["y"] + shown["height"] <= box(page, ".buy-bar")["y"], "not under the buy bar"
    expect(page.locator("input[name=spec1]").first).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("document.activeElement.name") == "spec1"
    expect(page.locator("input[name=spec0]").nth(1)).to_be_checked()
    page.screenshot(path=artifacts_dir / "store-product-choose-sku.png")
    check_phone_layout(page)

    # A refresh asks for the page again: nothing is posted, nothing lands in the cart.
    url = page.url
    page.reload()
    assert page.url == url
    page.goto(f"/s/{shop.slug}/cart")
    expect(page.locator(".cart-line")).to_have_count(0)

    # Choosing the size then adds it.
    page.goto(url)
    page.locator("label.spec-value:has(input[name=spec1])").nth(0).click()
    page.locator("button.add-to-cart").click()
    page.wait_for_url(f"**/s/{shop.slug}/cart")
    expect(page.locator(".cart-line")).to_have_count(1)
    shoot(page, artifacts_dir, "store-cart-header")
