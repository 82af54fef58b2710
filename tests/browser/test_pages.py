"""The pages in a phone-sized headless Chromium, against a real server.

Selectors use names, values and structure, never visible text, so the tests keep working while
the interface is translated. Every page visited is screenshotted (full page) into the artifacts
folder, and checked for what breaks on a phone: sideways scrolling and tap targets too small.
"""

import re
from pathlib import Path

import pytest

from pocketshop.accounts.service import display_phone
from pocketshop.demo import demo_card_number, demo_id_number, demo_logo
from tests.browser.conftest import PHONE, LiveServer, skip_without_playwright

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Browser, BrowserContext, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

SHOP_NAME = "小明的手作铺"
SHOP_SLUG = "xiao-ming-de-shou-zuo-pu"
# Apple's guideline is 44pt; Material's 48dp. Form controls and buttons must be at least this.
MIN_TAP = 44
TAP_TARGETS = (
    "button:visible, .button:visible, select:visible, textarea:visible, "
    "input:not([type=hidden]):visible, .topbar a:visible, .footer a:visible"
)


def check_phone_layout(page: Page) -> None:
    """Nothing wider than the screen (but inside a `data-scroller` strip, such as a photo
    gallery, which scrolls sideways on its own), and every control big enough for a thumb."""
    overflow = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const page = document.documentElement.scrollWidth;
            const wide = [...document.querySelectorAll('body *')]
                .filter(el => !el.parentElement.closest('[data-scroller]'))
                .filter(el => el.getBoundingClientRect().right > width + 1)
                .map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
            return page > width ? ['document', ...wide] : wide;
        }"""
    )
    assert overflow == [], f"wider than the screen on {page.url}: {overflow}"
    small = []
    for control in page.locator(TAP_TARGETS).all():
        box = control.bounding_box()
        if box and box["height"] < MIN_TAP:
            small.append((control.evaluate("el => el.outerHTML.slice(0, 80)"), box["height"]))
    assert small == [], f"tap targets under {MIN_TAP}px on {page.url}: {small}"


def shoot(page: Page, artifacts: Path, name: str) -> None:
    """Screenshot first, so a failed check leaves a picture of what it complains about."""
    page.wait_for_load_state("load")
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)
    check_phone_layout(page)


def read_code_from_inbox(context: BrowserContext, e164: str, artifacts: Path | None) -> str:
    """Switch to the dev SMS inbox in another tab, as a user switches to their messages
    (where phones are written as people write them: 138 0013 8001)."""
    inbox = context.new_page()
    try:
        message = inbox.locator("article.sms", has_text=display_phone(e164)).first
        for _attempt in range(50):
            inbox.goto("/dev/sms")
            if message.count():
                break
            inbox.wait_for_timeout(100)
        expect(message).to_be_visible()
        if artifacts:
            shoot(inbox, artifacts, "03-dev-sms-inbox")
        found = re.search(r"\b(\d{6})\b", message.inner_text())
        assert found, message.inner_text()
        return found.group(1)
    finally:
        inbox.close()


def log_in_at_onboarding(
    page: Page, context: BrowserContext, phone: str, artifacts: Path | None = None
) -> None:
    page.goto("/onboarding")
    if artifacts:
        shoot(page, artifacts, "01-onboarding-phone")
    page.locator("input[name=phone]").fill(phone)
    page.locator("form[action='/login/code'] button[type=submit]").click()
    code_input = page.locator("input[name=code]")
    expect(code_input).to_be_visible()
    expect(page.locator(".alert")).to_have_count(0)
    if artifacts:
        shoot(page, artifacts, "02-onboarding-code-sent")
    e164 = page.locator("form[action='/login'] input[name=phone]").input_value()
    assert e164.startswith("+86"), e164
    code = read_code_from_inbox(context, e164, artifacts)
    code_input.fill(code)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url("**/onboarding")
    expect(page.locator("input[name=real_name]")).to_be_visible()


def image_loaded(page: Page, selector: str) -> bool:
    result: bool = page.locator(selector).evaluate("img => img.complete && img.naturalWidth > 0")
    return result


def test_open_a_shop_on_a_phone(
    page: Page,
    context: BrowserContext,
    browser: Browser,
    live_server: LiveServer,
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    log_in_at_onboarding(page, context, "138 0013 8001", artifacts_dir)

    # Step 2: identity.
    expect(page.locator(".progress li.done")).to_have_count(1)
    expect(page.locator(".progress li.current .num")).to_have_text("2")
    page.locator("input[name=real_name]").fill("王小明")
    page.locator("input[name=id_number]").fill(demo_id_number())
    shoot(page, artifacts_dir, "04-onboarding-identity")
    page.locator("form[action='/onboarding/identity'] button[type=submit]").click()

    # Step 3: bank card; the holder is filled in from the identity.
    holder = page.locator("input[name=holder_name]")
    expect(holder).to_have_value("王小明")
    expect(page.locator(".progress li.current .num")).to_have_text("3")
    page.locator("input[name=card_number]").fill(demo_card_number())
    page.locator("select[name=bank]").select_option("ICBC")
    shoot(page, artifacts_dir, "05-onboarding-bank-card")
    page.locator("form[action='/onboarding/bank-card'] button[type=submit]").click()

    # Step 4: the shop, with a logo file.
    expect(page.locator("input[name=name]")).to_be_visible()
    expect(page.locator(".progress li.done")).to_have_count(3)
    logo = tmp_path / "logo.png"
    logo.write_bytes(demo_logo())
    page.locator("input[name=name]").fill(SHOP_NAME)
    page.locator("input[name=logo]").set_input_files(logo)
    page.locator("textarea[name=description]").fill(
        "手工皮具与布艺小物，每一件都是小明亲手做的。\nHandmade leather goods and fabric crafts."
    )
    shoot(page, artifacts_dir, "06-onboarding-shop")
    page.locator("form[action='/onboarding/shop'] button[type=submit]").click()

    # The console: the shop card, its link and its QR code.
    page.wait_for_url("**/console?opened=1")
    expect(page.locator(".notice")).to_be_visible()
    expect(page.locator(".shop-name")).to_have_text(SHOP_NAME)
    expect(page.locator(".today .figures > div")).to_have_count(4)  # the day so far: none yet
    expect(page.locator(".today .figure-orders")).to_have_text("0")
    shop_url = f"{live_server.url}/s/{SHOP_SLUG}"
    expect(page.locator("#shop-url")).to_have_value(shop_url)
    qr = page.locator(".qr img")
    expect(qr).to_be_visible()
    assert image_loaded(page, ".qr img")
    qr_box = qr.bounding_box()
    assert qr_box
    assert qr_box["width"] >= 180, "the QR code is too small to scan from a screen"
    assert image_loaded(page, ".shop-card img.logo")
    shoot(page, artifacts_dir, "07-console")

    # The public shop page, as its owner.
    page.locator(f"a.button[href='/s/{SHOP_SLUG}']").click()
    page.wait_for_url(f"**/s/{SHOP_SLUG}")
    expect(page.locator(".shop-name")).to_have_text(SHOP_NAME)
    assert image_loaded(page, ".shop-card img.logo")
    expect(page.locator("a.button[href='/console']")).to_be_visible()
    shoot(page, artifacts_dir, "08-shop-owner")

    # And as a visitor, who is invited to open their own.
    visitor = browser.new_context(**PHONE, base_url=live_server.url)
    try:
        visit = visitor.new_page()
        response = visit.goto(shop_url)
        assert response
        assert response.status == 200
        expect(visit.locator(".shop-name")).to_have_text(SHOP_NAME)
        # The shop invites: its link names it, and the platform counts who brought whom.
        invite = f"a.button.primary[href='/onboarding?from={SHOP_SLUG}']"
        expect(visit.locator(invite)).to_be_visible()
        assert image_loaded(visit, ".shop-card img.logo")
        shoot(visit, artifacts_dir, "09-shop-visitor")
    finally:
        visitor.close()


def test_invalid_id_number_shows_a_readable_error(
    page: Page, context: BrowserContext, artifacts_dir: Path
) -> None:
    log_in_at_onboarding(page, context, "139 0013 9002")
    good = demo_id_number()
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    page.locator("input[name=real_name]").fill("王小明")
    page.locator("input[name=id_number]").fill(bad)
    page.locator("form[action='/onboarding/identity'] button[type=submit]").click()

    alert = page.locator(".alert[role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("data-code", "invalid_id_number")
    assert alert.inner_text().strip()
    # What was typed stays, so it can be corrected rather than retyped.
    expect(page.locator("input[name=real_name]")).to_have_value("王小明")
    expect(page.locator("input[name=id_number]")).to_have_value(bad)
    expect(page.locator("input[name=id_number]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("input[name=real_name]")).not_to_have_attribute("aria-invalid", "true")

    font_size = alert.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert font_size >= 14
    box = alert.bounding_box()
    assert box
    viewport = page.viewport_size
    assert viewport
    assert box["y"] + box["height"] <= viewport["height"], "the error is below the fold"
    shoot(page, artifacts_dir, "10-identity-error")


def test_language_switch_in_the_footer(page: Page, artifacts_dir: Path) -> None:
    page.goto("/onboarding")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".footer button[value=zh_CN]")).to_have_attribute("aria-current", "true")

    page.locator(".footer button[value=en]").click()
    page.wait_for_url("**/onboarding")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".footer button[value=en]")).to_have_attribute("aria-current", "true")
    expect(page.locator(".footer button[value=zh_CN]")).not_to_have_attribute(
        "aria-current", "true"
    )
    expect(page.locator("h1")).to_have_text("Open your shop")
    shoot(page, artifacts_dir, "12-onboarding-english")

    # The choice is remembered on the next page, and can be switched back.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Open your shop from your phone")
    shoot(page, artifacts_dir, "13-home-english")
    page.locator(".footer button[value=zh_CN]").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_home_login_and_not_found_pages(page: Page, artifacts_dir: Path) -> None:
    response = page.goto("/")
    assert response
    assert response.status == 200
    expect(page.locator("a.button.primary[href='/onboarding']")).to_be_visible()
    expect(page.locator(".steps-overview li")).to_have_count(4)
    shoot(page, artifacts_dir, "20-home")

    page.locator(".topnav a[href^='/login']").click()
    page.wait_for_url(re.compile(r"/login\?next="))
    phone = page.locator("input[name=phone]")
    expect(phone).to_be_visible()
    expect(phone).to_have_attribute("type", "tel")
    shoot(page, artifacts_dir, "21-login")

    # A number that cannot be a phone is explained in place.
    phone.fill("12")
    page.locator("form[action='/login/code'] button[type=submit]").click()
    expect(page.locator(".alert[role=alert]")).to_be_visible()
    expect(page.locator(".alert[role=alert]")).not_to_be_empty()
    expect(page.locator("input[name=phone]")).to_have_value("12")
    expect(page.locator("input[name=phone]")).to_have_attribute("aria-invalid", "true")
    shoot(page, artifacts_dir, "22-login-error")

    response = page.goto("/s/does-not-exist")
    assert response
    assert response.status == 404
    expect(page.locator(".error-page .status")).to_have_text("404")
    expect(page.locator(".error-page h1")).not_to_be_empty()
    expect(page.locator(".error-page a.button[href='/']")).to_be_visible()
    shoot(page, artifacts_dir, "23-not-found")

    response = page.goto("/dev/sms")
    assert response
    assert response.status == 200
    shoot(page, artifacts_dir, "24-dev-sms-empty")
