"""The merchant console in a phone-sized headless Chromium: products list, the product editor
with a live 2×3 SKU matrix, the orders list with its live new-orders banner, and an order's
ship form. A merchant with a shop, products and orders is seeded through the services."""

import asyncio
import io
import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from pocketshop.accounts import service as accounts
from pocketshop.accounts.service import SessionKind
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.orders import checkout
from pocketshop.orders.addresses import AddressInput
from pocketshop.payments import calls
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.commerce import ADDRESS, open_verified_shop, stage_photos

skip_without_playwright()  # before the imports below, which need the package
from playwright.sync_api import BrowserContext, FilePayload, Page, expect  # noqa: E402

from tests.browser.test_pages import shoot as shoot_page  # noqa: E402

pytestmark = pytest.mark.browser

MERCHANT_PHONE = "+8613800138077"
PRODUCTS = [
    ("手工真皮钱包", "#8d5524", {"颜色": ["棕", "黑"]}, 12900),
    ("亚麻手提包 大容量通勤款", "#c8b89a", {"颜色": ["米白", "灰"], "尺寸": ["中", "大"]}, 8900),
    ("羊毛围巾", "#b23a48", {}, 15900),
    ("帆布零钱包", "#3a86ff", {"图案": ["猫", "狗", "鱼"]}, 2900),
]


@dataclass
class Seeded:
    slug: str
    buyer_token: str
    sku_ids: list[str]
    paid_number: str


def photo(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (480, 480), color).save(out, format="JPEG")
    return out.getvalue()


async def _seed(settings: Settings) -> Seeded:
    """A merchant's shop with photographed products on sale and orders in several states."""
    runtime = build(settings)
    try:
        async with runtime.db.transaction() as session:
            user = await accounts.get_or_create_user(session, MERCHANT_PHONE)
            shop = await open_verified_shop(session, settings, user, "小明的手作铺")
            sku_ids, made = [], []
            for title, color, specs, price in PRODUCTS:
                dims = tuple(SpecDimension(name, tuple(values)) for name, values in specs.items())
                combos = itertools.product(*(d.values for d in dims))
                product = await catalog.create(
                    session,
                    shop,
                    ProductInput(
                        title=title,
                        specs=dims,
                        skus=tuple(SkuInput(spec=c, price=price, stock=30) for c in combos),
                    ),
                )
                skus = await catalog.skus_of(session, product)
                sku_ids.append(skus[0].public_id)
                made.append((product.public_id, color))
        for public_id, color in made:  # photographed as an upload is, then put on sale
            await stage_photos(runtime.db, settings, shop, public_id, [photo(color)])
            async with runtime.db.transaction() as session:
                await catalog.set_status(session, shop, public_id, ProductStatus.on_sale)
        async with runtime.db.transaction() as session:
            buyer = await accounts.get_or_create_user(session, "+8613900139077")
            token, _auth = await accounts.start_session(session, settings, buyer, SessionKind.api)
            numbers, to_pay = [], []
            for lines in ([(0, 1), (1, 2)], [(2, 1)], [(3, 3), (0, 1), (1, 1), (2, 1)]):
                created = await checkout.create(
                    session,
                    settings,
                    buyer,
                    shop,
                    lines=[checkout.LineRequest(sku_ids[i], q) for i, q in lines],
                    address=AddressInput(**ADDRESS),
                    note="请用纸箱包装，谢谢" if len(lines) > 2 else "",
                )
                numbers.append(created.order.number)
                if len(lines) != 1:
                    to_pay.append(created.order.number)
        for number in to_pay:  # paid as a buyer pays: between transactions
            await calls.pay_in_sandbox(
                runtime.db, settings, runtime.payments.providers, buyer.id, number
            )
        return Seeded(shop.slug, token, sku_ids, numbers[-1])
    finally:
        await runtime.close()


def seed(live_server: LiveServer) -> Seeded:
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _seed(live_server.app.state.settings)).result()


def shoot(page: Page, artifacts: Path, name: str) -> None:
    """From the top: the sticky top bar would otherwise sit over a scrolled full-page shot."""
    page.evaluate("window.scrollTo(0, 0)")
    shoot_page(page, artifacts, name)


def log_in(
    page: Page,
    live_server: LiveServer,
    next_url: str,
    who: tuple[str, str] = ("138 0013 8077", MERCHANT_PHONE),
) -> None:
    """Through the login page, the SMS code read from the console sender; `who` is the
    phone as typed and as stored."""
    typed, stored = who
    sms = live_server.app.state.sms

    def codes() -> list[str]:
        """The login codes sent to the phone, newest first (notifications go there too)."""
        texts = [message.text for message in sms.sent if message.phone == stored]
        return [found.group(1) for text in texts if (found := re.search(r"\b(\d{6})\b", text))]

    before = len(codes())
    page.goto(f"/login?next={next_url}")
    page.locator("input[name=phone]").fill(typed)
    page.locator("form[action='/login/code'] button[type=submit]").click()
    code_input = page.locator("input[name=code]")
    expect(code_input).to_be_visible()
    # The code goes out just after the page answers (the outbox runs after the commit).
    for _attempt in range(50):
        if len(codes()) > before:
            break
        page.wait_for_timeout(100)
    code_input.fill(codes()[0])
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(f"**{next_url}")


def test_products_and_the_sku_matrix_editor(
    page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed(live_server)
    log_in(page, live_server, "/console/products")
    expect(page.locator(".product-row")).to_have_count(len(PRODUCTS))
    expect(page.locator(".product-row img.thumb").first).to_be_visible()
    shoot(page, artifacts_dir, "console-products")

    page.locator("a.button[href='/console/products/new']").click()
    page.wait_for_url("**/console/products/new")
    # With JavaScript the matrix follows the specs; the no-JS button is hidden.
    expect(page.locator("[data-matrix-button]")).to_be_hidden()
    page.locator("input[name=title]").fill("手工编织托特包")
    # The description edits as formatted text (the plain text box is for no JavaScript).
    expect(page.locator("textarea[name=description]")).to_be_hidden()
    page.locator("[data-rich-editor]").fill("每一只都是手工编织。可装下 A4 文件。")
    # Photos go with the form: on sale only with one.
    page.locator("#product-form input[name=images]").set_input_files(
        FilePayload(name="bag.jpg", mimeType="image/jpeg", buffer=photo("#c8b89a"))
    )
    page.locator("input[name=spec_0_name]").fill("颜色")
    page.locator("textarea[name=spec_0_values]").fill("原色, 黑色")
    page.locator("input[name=spec_1_name]").fill("尺寸")
    page.locator("textarea[name=spec_1_values]").fill("小\n中\n大")
    rows = page.locator("[data-sku-rows] [data-sku-row]")
    expect(rows).to_have_count(6)
    expect(rows.nth(5).locator("legend")).to_have_text("黑色 / 大")
    for index in range(6):
        row = rows.nth(index)
        row.locator("[data-field=price]").fill(f"{129 + 20 * (index % 3)}")
        row.locator("[data-field=stock]").fill(str(10 + index))
    rows.nth(0).locator("[data-field=list_price]").fill("199")
    # A typed price survives the matrix regenerating as a spec grows and shrinks.
    page.locator("textarea[name=spec_0_values]").fill("原色, 黑色, 红色")
    expect(rows).to_have_count(9)
    page.locator("textarea[name=spec_0_values]").fill("原色, 黑色")
    expect(rows).to_have_count(6)
    expect(rows.nth(1).locator("[data-field=price]")).to_have_value("149")
    page.locator("input[name=title]").focus()
    shoot(page, artifacts_dir, "console-product-editor")

    page.locator("button[name=action][value=publish]").click()
    page.wait_for_url(re.compile(r"/console/products/[0-9a-f]{32}\?done=published"))
    expect(page.locator(".notice")).to_be_visible()
    expect(page.locator("[data-sku-rows] [data-sku-row]")).to_have_count(6)
    expect(page.locator("input[name=sku_5_stock]")).to_have_value("15")
    expect(page.locator("input[name=sku_5_stock]")).to_have_attribute("readonly", "")

    # Stock changes through an adjustment with a reason, and shows in the history.
    page.locator("select[name=sku]").select_option(index=5)
    page.locator("input[name=delta]").fill("-2")
    page.locator("select[name=reason]").select_option("damaged")
    page.locator("#stock button[type=submit]").click()
    page.wait_for_url("**done=stock*")
    expect(page.locator(".history li")).to_have_count(1)
    expect(page.locator("input[name=sku_5_stock]")).to_have_value("13")
    shoot(page, artifacts_dir, "console-product-saved")


def test_orders_live_badge_and_shipping(
    page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seeded = seed(live_server)
    log_in(page, live_server, "/console/orders")
    expect(page.locator(".order-card")).to_have_count(3)
    expect(page.locator(".console-nav [data-to-ship]")).to_have_text("2")
    expect(page.locator("[data-new-orders]")).to_be_hidden()
    shoot(page, artifacts_dir, "console-orders")

    # A buyer orders while the list is open: the banner appears without a reload.
    response = page.request.post(
        "/api/v1/orders",
        data={
            "shop": seeded.slug,
            "lines": [{"sku_id": seeded.sku_ids[0], "quantity": 1}],
            "address": ADDRESS,
        },
        headers={"Authorization": f"Bearer {seeded.buyer_token}"},
    )
    assert response.status == 201, response.text()
    banner = page.locator("[data-new-orders]")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("1")
    banner.click()
    expect(page.locator(".order-card")).to_have_count(4)

    page.goto(f"/console/orders/{seeded.paid_number}")
    expect(page.locator("form[action*='/ship']")).to_be_visible()
    expect(page.locator(".ship-line")).to_have_count(4)
    page.locator("select[name=carrier]").select_option("SF")
    page.locator("input[name=tracking_number]").fill("SF12")
    page.locator("form[action*='/ship'] button[type=submit]").click()
    alert = page.locator(".alert[role=alert]")
    expect(alert).to_have_attribute("data-code", "invalid_tracking_number")
    expect(page.locator("input[name=tracking_number]")).to_have_value("SF12")
    expect(page.locator("input[name=tracking_number]")).to_have_attribute("aria-invalid", "true")
    page.locator("input[name=tracking_number]").fill("SF1234567890123")
    shoot(page, artifacts_dir, "console-order")

    # Part now: the first line stays for a second package.
    page.locator(".ship-line input").first.fill("0")
    page.locator("form[action*='/ship'] button[type=submit]").click()
    page.wait_for_url("**done=shipped*")
    expect(page.locator(".shipments li")).to_have_count(1)
    expect(page.locator(".ship-line")).to_have_count(1)
    expect(page.locator(".console-head .status")).to_have_class(re.compile("partially_shipped"))
    shoot(page, artifacts_dir, "console-order-partly-shipped")
