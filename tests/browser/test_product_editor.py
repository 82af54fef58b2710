"""The product editor in a phone-sized headless Chromium: the description typed as formatted
text with the toolbar (bold, a list) and shown formatted in the shop; photos chosen on the
new-product form; a refused photo's message next to the photo field, which the phone scrolls
to."""

import asyncio
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from pocketshop.accounts import service as accounts
from pocketshop.config import Settings
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.commerce import open_verified_shop

skip_without_playwright()  # before the imports below, which need the package
from playwright.sync_api import FilePayload, Page, expect  # noqa: E402

from tests.browser.test_console import MERCHANT_PHONE, log_in  # noqa: E402
from tests.browser.test_pages import check_phone_layout  # noqa: E402

pytestmark = pytest.mark.browser


def jpeg(color: str) -> FilePayload:
    out = io.BytesIO()
    Image.new("RGB", (480, 480), color).save(out, format="JPEG")
    return {"name": f"{color[1:]}.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


async def _open_shop(settings: Settings) -> str:
    runtime = build(settings)
    try:
        async with runtime.db.transaction() as session:
            user = await accounts.get_or_create_user(session, MERCHANT_PHONE)
            shop = await open_verified_shop(session, settings, user, "小明的手作铺")
        return shop.slug
    finally:
        await runtime.close()


def open_shop(live_server: LiveServer) -> str:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _open_shop(live_server.app.state.settings)).result()


def shoot(page: Page, artifacts: Path, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=artifacts / f"{name}.png", full_page=full_page)
    check_phone_layout(page)


def test_formatted_description_and_photos_on_the_new_product_form(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    slug = open_shop(live_server)
    log_in(page, live_server, "/console/products/new")
    editor = page.locator("[data-rich-editor]")
    expect(editor).to_be_visible()
    expect(page.locator("textarea[name=description]")).to_be_hidden()
    page.locator("input[name=title]").fill("手工编织托特包")

    # Type, make a word bold with the toolbar, then a bulleted list.
    editor.click()
    page.keyboard.type("每一只都是")
    page.locator("[data-command=bold]").click()
    expect(page.locator("[data-command=bold]")).to_have_attribute("aria-pressed", "true")
    page.keyboard.type("手工编织")
    page.locator("[data-command=bold]").click()
    page.keyboard.type("的。")
    page.keyboard.press("Enter")
    page.locator("[data-command=insertUnorderedList]").click()
    page.keyboard.type("可装下 A4 文件")
    page.keyboard.press("Enter")
    page.keyboard.type("棉麻内衬")
    expect(editor.locator("b, strong")).to_have_text("手工编织")
    expect(editor.locator("ul li")).to_have_count(2)

    page.locator("input[name=sku_0_price]").fill("129")
    page.locator("input[name=sku_0_stock]").fill("8")
    page.locator("#product-form input[name=images]").set_input_files(
        [jpeg("#c8b89a"), jpeg("#3a5a40")]
    )
    page.locator("input[name=title]").focus()
    shoot(page, artifacts_dir, "h3_new_product_with_photos")
    editor.scroll_into_view_if_needed()
    shoot(page, artifacts_dir, "h3_editor_toolbar", full_page=False)

    page.locator("button[name=action][value=publish]").click()
    page.wait_for_url(re.compile(r"/console/products/([0-9a-f]{32})\?done=published"))
    expect(page.locator(".photos li")).to_have_count(2)
    # Back in the editor: formatted text, never tags.
    expect(editor.locator("b, strong")).to_have_text("手工编织")
    expect(editor).not_to_contain_text("<")
    public_id = re.findall(r"/console/products/([0-9a-f]{32})", page.url)[0]

    # The buyer sees it formatted.
    page.goto(f"/s/{slug}/p/{public_id}")
    details = page.locator(".product-description .rich-text")
    expect(details.locator("b, strong")).to_have_text("手工编织")
    expect(details.locator("ul li")).to_have_text(["可装下 A4 文件", "棉麻内衬"])
    details.scroll_into_view_if_needed()
    shoot(page, artifacts_dir, "h3_storefront_description", full_page=False)


def test_a_refused_photo_shows_next_to_its_field(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    open_shop(live_server)
    log_in(page, live_server, "/console/products/new")
    page.locator("input[name=title]").fill("羊毛围巾")
    page.locator("input[name=sku_0_price]").fill("159")
    # Published without a photo: refused, the message at the photo field, the phone there.
    page.locator("button[name=action][value=publish]").click()
    new_photos = page.locator("#product-form input[name=images]")
    expect(page.locator("#photos .alert")).to_be_visible()
    expect(new_photos).to_have_attribute("aria-invalid", "true")
    expect(new_photos).to_be_in_viewport()
    expect(page.locator("input[name=title]")).to_have_value("羊毛围巾")
    shoot(page, artifacts_dir, "h3_photo_required", full_page=False)
    page.locator("button[name=action][value=save]").click()
    page.wait_for_url(re.compile(r"/console/products/[0-9a-f]{32}\?done=created"))

    photo_input = page.locator("#photos input[name=images]")
    photo_input.set_input_files(
        FilePayload(name="note.jpg", mimeType="image/jpeg", buffer=b"not a photo")
    )
    page.locator("#photos button[type=submit]").click()
    page.wait_for_url(re.compile(r"\?photo_error=invalid_image#photos$"))
    message = page.locator("#photos .alert")
    expect(message).to_be_visible()
    expect(photo_input).to_have_attribute("aria-invalid", "true")
    expect(photo_input).to_be_in_viewport()
    expect(message).to_be_in_viewport()
    shoot(page, artifacts_dir, "h3_photo_error", full_page=False)
    # A refresh shows it again and posts nothing.
    page.reload()
    expect(page.locator("#photos .alert")).to_be_visible()
