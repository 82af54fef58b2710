"""The Content-Security-Policy in a real browser: what it blocks is seen (so the watch that
the `context` fixture keeps over every browser test is real), and the product page and the
console's product editor work and look right under it, on a phone."""

import re
from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import log_in, seed
from tests.browser.test_storefront import PRODUCT, seed_demo_shop

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_what_the_policy_blocks_is_seen(page: Page, csp_violations: list[str]) -> None:
    answer = page.goto("/")
    assert answer is not None
    assert "script-src 'self'" in (answer.header_value("content-security-policy") or "")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.appendChild(script);
          document.body.setAttribute("style", "background: red");
        }"""
    )
    for _attempt in range(50):
        if len(csp_violations) >= 2:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => window.injected") is None
    assert any("script-src-elem" in seen for seen in csp_violations), csp_violations
    assert any("style-src-attr" in seen for seen in csp_violations), csp_violations
    csp_violations.clear()  # seen as expected: not a failure of this test


def test_the_product_page_under_the_policy(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    shop = seed_demo_shop(live_server)
    page.goto(f"/s/{shop.slug}")
    page.locator(".product-card", has_text=PRODUCT).click()
    page.wait_for_url(re.compile(r"/p/[0-9a-f]+$"))
    page.wait_for_load_state("networkidle")
    # The SKU picker (storefront.js) still runs: choosing both specs shows the SKU's stock.
    stock = page.locator("[data-stock]")
    page.locator("label.spec-value:has(input[name=spec0])").nth(1).click()
    page.locator("label.spec-value:has(input[name=spec1])").nth(1).click()
    expect(stock).not_to_be_empty()
    assert page.locator(".gallery img").evaluate_all(
        "imgs => imgs.length > 0 && imgs.every(img => img.complete && img.naturalWidth > 0)"
    )
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifacts_dir / "csp-product.png")


def test_the_console_under_the_policy(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed(live_server)
    log_in(page, live_server, "/console")
    # The shop link selects itself on a tap (console.js, once an onclick attribute).
    link = page.locator("#shop-url")
    link.click()
    value = link.input_value()
    assert link.evaluate("input => [input.selectionStart, input.selectionEnd]") == [0, len(value)]
    expect(page.locator(".qr img")).to_be_visible()

    page.goto("/console/products/new")
    page.locator("input[name=title]").fill("手工编织托特包")
    page.locator("input[name=spec_0_name]").fill("颜色")
    page.locator("textarea[name=spec_0_values]").fill("原色, 黑色")
    page.locator("input[name=spec_1_name]").fill("尺寸")
    page.locator("textarea[name=spec_1_values]").fill("小\n大")
    expect(page.locator("[data-sku-rows] [data-sku-row]")).to_have_count(4)
    page.locator("input[name=title]").focus()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifacts_dir / "csp-product-editor.png")
    page.screenshot(path=artifacts_dir / "csp-product-editor-full.png", full_page=True)
