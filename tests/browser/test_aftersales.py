"""After-sales on a phone in headless Chromium: a buyer applies for a refund of a received
order with a photo (first with a quantity the form refuses, next to its field), the shop
refuses in the console, the buyer asks the platform, and an operator refunds on
/admin/disputes. Everyone is logged in with a session cookie made through the services.

Screenshots: aftersales-apply-error, aftersales-console-answer, aftersales-console-case,
aftersales-console-list-en, aftersales-buyer-refused, aftersales-admin-dispute,
aftersales-buyer-case, aftersales-store-order.
Selectors use names, values and structure, never interface text.
"""

import asyncio
import io
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image

from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import SESSION_COOKIE, cookie_signer
from pocketshop.accounts.service import SessionKind
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput
from pocketshop.config import Settings
from pocketshop.i18n import LOCALE_COOKIE
from pocketshop.orders import actions, checkout, shipping
from pocketshop.orders.addresses import AddressInput
from pocketshop.payments import calls
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.commerce import ADDRESS, open_verified_shop, stage_photos

skip_without_playwright()  # before the imports below, which need the package
from playwright.sync_api import BrowserContext, Dialog, Page, expect  # noqa: E402

from tests.browser.test_console import shoot  # noqa: E402

pytestmark = pytest.mark.browser

T = TypeVar("T")
MERCHANT_PHONE = "+8613800138088"
BUYER_PHONE = "+8613900139088"
OPERATOR_PHONE = "+8613600136088"


@dataclass
class Seeded:
    number: str
    cookies: dict[str, str]  # phone -> signed session cookie


def photo(color: str, size: int = 640) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="JPEG")
    return out.getvalue()


async def _seed(settings: Settings) -> Seeded:
    """A shop selling a photographed product; an order of two paid, shipped and received by
    its buyer; an operator; a web session for each of the three."""
    runtime = build(settings)
    try:
        db = runtime.db
        async with db.transaction() as session:
            owner = await accounts.get_or_create_user(session, MERCHANT_PHONE)
            shop = await open_verified_shop(session, settings, owner, "小明的手作铺")
            product = await catalog.create(
                session,
                shop,
                ProductInput(
                    title="手工真皮钱包 经典款", skus=(SkuInput(spec=(), price=12900, stock=30),)
                ),
            )
            (sku,) = await catalog.skus_of(session, product)
        await stage_photos(db, settings, shop, product.public_id, [photo("#8d5524")])
        async with db.transaction() as session:
            await catalog.set_status(session, shop, product.public_id, ProductStatus.on_sale)
            buyer = await accounts.get_or_create_user(session, BUYER_PHONE)
            created = await checkout.create(
                session,
                settings,
                buyer,
                shop,
                lines=[checkout.LineRequest(sku.public_id, 2)],
                address=AddressInput(**ADDRESS),
            )
            number = created.order.number
        await calls.pay_in_sandbox(db, settings, runtime.payments.providers, buyer.id, number)
        async with db.transaction() as session:
            await shipping.ship(
                session, settings, shop, number, carrier="SF", tracking_number="SF1234567890123"
            )
        async with db.transaction() as session:
            await actions.confirm_receipt(session, settings, buyer, number)
            await accounts.set_operator(session, OPERATOR_PHONE, on=True)
        cookies = {}
        signer = cookie_signer(settings)
        async with db.transaction() as session:
            for phone in (MERCHANT_PHONE, BUYER_PHONE, OPERATOR_PHONE):
                user = await accounts.get_or_create_user(session, phone)
                token, _auth = await accounts.start_session(
                    session, settings, user, SessionKind.web
                )
                cookies[phone] = signer.sign(token).decode()
        return Seeded(number, cookies)
    finally:
        await runtime.close()


def in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Playwright's sync API keeps an event loop running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def be(context: BrowserContext, live_server: LiveServer, seeded: Seeded, phone: str) -> None:
    """Switch the phone to another person: their session cookie, nobody else's."""
    context.clear_cookies()
    context.add_cookies(
        [{"name": SESSION_COOKIE, "value": seeded.cookies[phone], "url": live_server.url}]
    )


def test_refusal_escalated_and_refunded_by_the_platform(
    page: Page,
    context: BrowserContext,
    live_server: LiveServer,
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    seeded: Seeded = in_thread(_seed(live_server.app.state.settings))
    number = seeded.number
    scratch = tmp_path / "划痕.jpg"
    scratch.write_bytes(photo("#c0392b", 1200))

    # The buyer opens the received order and applies for its line.
    be(context, live_server, seeded, BUYER_PHONE)
    page.goto(f"/me/orders/{number}")
    page.locator("a.line-aftersales[href*='/aftersales/new']").click()
    page.wait_for_url(re.compile(rf"/me/orders/{number}/aftersales/new\?line=[0-9a-f]+$"))
    expect(page.locator("input[name=kind]")).to_have_count(3)
    page.locator("label.spec-value:has(input[value=refund_only])").click()
    page.locator("input[name=quantity]").fill("3")  # two were bought
    page.locator("select[name=reason]").select_option("damaged")
    page.locator("textarea[name=description]").fill("收到时皮面有明显划痕，见照片。")
    page.locator("input[name=photos]").set_input_files(str(scratch))
    page.locator("form.case-apply button[type=submit]").click()
    page.wait_for_load_state("load")
    # Refused: the message right under the quantity, what was typed still there.
    quantity = page.locator("input[name=quantity]")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(page.locator("label:has(input[name=quantity]) + .alert[role=alert]")).to_be_visible()
    expect(page.locator("textarea[name=description]")).to_have_value(
        "收到时皮面有明显划痕，见照片。"
    )
    quantity.scroll_into_view_if_needed()
    shoot(page, artifacts_dir, "aftersales-apply-error")

    quantity.fill("1")
    page.locator("input[name=photos]").set_input_files(str(scratch))  # files are never kept
    page.locator("form.case-apply button[type=submit]").click()
    page.wait_for_url(re.compile(r"/me/aftersales/[0-9a-f]{32}$"))
    case_url = page.url
    case_path = "/me/aftersales/" + case_url.rsplit("/", 1)[-1]
    case_id = case_path.rsplit("/", 1)[-1]
    expect(page.locator(".case-photos img")).to_have_count(1)

    # The shop refuses in the console.
    be(context, live_server, seeded, MERCHANT_PHONE)
    page.goto("/console/aftersales")
    expect(page.locator(".console-nav [data-aftersales]")).to_have_text("1")
    page.locator(f"a[href='/console/aftersales/{case_id}']").click()
    page.wait_for_url(f"**/console/aftersales/{case_id}")
    expect(page.locator("form[action$='/agree#agree']")).to_have_attribute(
        "data-confirm", re.compile(".")
    )
    shoot(page, artifacts_dir, "aftersales-console-answer")
    page.locator("form[action$='/refuse#refuse'] textarea[name=reason]").fill(
        "钱包出库前已检查无划痕，请提供开箱视频。"
    )
    page.locator("form[action$='/refuse#refuse'] button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/console/aftersales/{case_id}\?done=refuse"))
    expect(page.locator(".notice")).to_be_visible()
    expect(page.locator(".case-timeline li")).to_have_count(2)
    shoot(page, artifacts_dir, "aftersales-console-case")

    # The console in English: six sections still fit the phone's width.
    context.add_cookies([{"name": LOCALE_COOKIE, "value": "en", "url": live_server.url}])
    page.goto("/console/aftersales?status=all")
    expect(page.locator(".order-card")).to_have_count(1)
    shoot(page, artifacts_dir, "aftersales-console-list-en")

    # The buyer asks the platform to decide.
    be(context, live_server, seeded, BUYER_PHONE)
    page.goto(case_path)
    shoot(page, artifacts_dir, "aftersales-buyer-refused")
    page.locator("form[action$='/escalate#escalate'] textarea[name=note]").fill(
        "划痕照片已上传，快递签收时就有。"
    )
    page.locator("form[action$='/escalate#escalate'] button[type=submit]").click()
    page.wait_for_url(re.compile(rf"{case_path}(#escalate)?$"))
    expect(page.locator("form[action$='/escalate#escalate']")).to_have_count(0)

    # An operator reads both sides and refunds (the form asks first).
    be(context, live_server, seeded, OPERATOR_PHONE)
    page.goto("/admin/disputes")
    page.locator(f"a[href='/admin/disputes/{case_id}']").click()
    page.wait_for_url(f"**/admin/disputes/{case_id}")
    expect(page.locator(".case-said")).to_have_count(1)
    page.locator("select[name=decision]").select_option("refund")
    page.locator("textarea[name=note]").fill("照片显示划痕明显，支持买家退款。")
    shoot(page, artifacts_dir, "aftersales-admin-dispute")
    asked: list[str] = []

    def agree(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", agree)
    page.locator("form[action$='#decide'] button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/admin/disputes/{case_id}#decide$"))
    expect(page.locator("form[action$='#decide']")).to_have_count(0)
    assert len(asked) == 1

    # The buyer sees the whole story, refunded.
    be(context, live_server, seeded, BUYER_PHONE)
    page.goto(case_path)
    expect(page.locator(".case-status.is-refunded")).to_be_visible()
    expect(page.locator(".case-timeline li")).to_have_count(4)
    expect(page.locator(".case-said")).to_have_count(2)
    shoot(page, artifacts_dir, "aftersales-buyer-case")
    # Its order: the line leads to the case, and to a new application for the unit left.
    page.goto(f"/me/orders/{number}")
    expect(page.locator(f"a.line-aftersales[href='{case_path}']")).to_be_visible()
    expect(page.locator("a.line-aftersales[href*='/aftersales/new']")).to_be_visible()
    shoot(page, artifacts_dir, "aftersales-store-order")
