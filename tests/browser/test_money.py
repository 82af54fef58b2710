"""Money on a phone in headless Chromium: a buyer pays an order through the sandbox's hosted
page and reads the receipt; the merchant sees the money page and an order's refund form.

Screenshots: sandbox-pay, store-order-paid, receipt, console-finance, console-order-money.
Selectors use names, values and structure, never interface text.
"""

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from pocketshop import clock, jobs
from pocketshop.accounts import service as accounts
from pocketshop.config import Settings
from pocketshop.ledger import service as ledger
from pocketshop.orders.models import Order
from pocketshop.payments import anomalies, balances, escrow, withdrawals
from pocketshop.runtime import build
from pocketshop.shops import service as shops
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import log_in, shoot
from tests.browser.test_storefront import seed_demo_shop
from tests.support import tr

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

# The demo's buyer with an unpaid order, and its merchant.
BUYER = ("137 0013 7000", "+8613700137000")
MERCHANT = ("138 0013 8000", "+8613800138000")


def test_pay_read_the_receipt_and_see_the_money(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/me/orders", BUYER)
    page.locator(".store-order-card:has(.store-status.is-pending_payment) a").first.click()
    page.wait_for_url(re.compile(r"/me/orders/\d+$"))
    number = page.url.rsplit("/", 1)[-1]
    total = page.locator(".store-totals .grand dd").inner_text()

    # Off to the sandbox's hosted page, which shows the order's total.
    page.locator("form#pay-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/sandbox/pay/[0-9a-f]{32}$"))
    expect(page.locator(".sandbox-ticket .price")).to_have_text(total)
    shoot(page, artifacts_dir, "sandbox-pay")
    page.locator("button.sandbox-pay-button").click()

    # Paid (asked of the provider on return): the success page, then the order and receipt.
    page.wait_for_url(f"**/me/orders/{number}/paid")
    page.locator("a.paid-order-link").click()
    page.wait_for_url(re.compile(rf"/me/orders/{number}$"))
    expect(page.locator(".store-order-status.is-paid")).to_be_visible()
    expect(page.locator("form#pay-form")).to_have_count(0)
    shoot(page, artifacts_dir, "store-order-paid")
    page.locator("a.receipt-link").click()
    page.wait_for_url(f"**/me/orders/{number}/receipt")
    expect(page.locator(".receipt .price")).to_have_text(total)
    expect(page.locator(".receipt-txn")).to_have_text(re.compile(r"^SB[0-9A-F]{28}$"))
    shoot(page, artifacts_dir, "receipt")

    # The merchant's money page, and the order's refund form.
    page.context.clear_cookies()
    log_in(page, live_server, "/console/finance", MERCHANT)
    expect(page.locator(".balances .balance")).to_have_count(6)
    expect(page.locator(".statement li").first).to_be_visible()
    shoot(page, artifacts_dir, "console-finance")
    # The statement in business events, each with the balance after it.
    expect(page.locator(".statement li .statement-balance").first).to_have_text(
        re.compile(r"¥[\d,]+\.\d\d")
    )

    # A refused withdrawal: back on the page, the message beside the amount and on screen;
    # a refresh posts nothing again and the message is gone.
    withdraw_form = page.locator("form.withdraw-form")
    withdraw_form.locator("input[name=amount]").fill("99999999")
    withdraw_form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/finance#withdraw$"))
    alert = page.locator("form.withdraw-form [role=alert]")
    expect(alert).to_be_in_viewport()
    expect(withdraw_form.locator("input[name=amount]")).to_have_attribute("aria-invalid", "true")
    expect(withdraw_form.locator("input[name=amount]")).to_have_value("99999999")
    shoot(page, artifacts_dir, "console-withdraw-refused")
    page.reload()
    expect(page.locator("[role=alert]")).to_have_count(0)

    page.goto(f"/console/orders/{number}")
    expect(page.locator(".order-fee dd")).to_have_text(re.compile(r"^¥0\.\d\d "))
    expect(page.locator("form.refund-form")).to_be_visible()
    page.locator("form.refund-form input[name=amount]").fill("1")
    # A refund cannot be taken back: the console asks first. Dismissed, nothing is refunded.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator("form.refund-form button[type=submit]").click()
    page.wait_for_timeout(300)
    expect(page.locator(".refunds li")).to_have_count(0)
    assert page.url.endswith(f"/console/orders/{number}")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.locator("form.refund-form button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/console/orders/{number}\?done=refunded"))
    expect(page.locator(".refunds li")).to_have_count(1)
    assert asked == [tr("Refund this amount to the buyer? A refund cannot be taken back.")] * 2
    shoot(page, artifacts_dir, "console-order-money")


def test_a_payment_request_on_a_phone(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/console/payment-requests", MERCHANT)
    page.locator("form.request-form input[name=amount]").fill("88")
    page.locator("form.request-form input[name=note]").fill("定制刻字费")
    shoot(page, artifacts_dir, "console-payment-requests")
    page.locator("form.request-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/payment-requests/[0-9a-f]{32}(#new)?$"))
    expect(page.locator("img.request-qr")).to_be_visible()
    link = page.locator("input.request-link").input_value()
    shoot(page, artifacts_dir, "console-payment-request")

    # The buyer opens the link from a chat, logs in, and pays.
    page.context.clear_cookies()
    log_in(page, live_server, urlsplit(link).path, BUYER)
    expect(page.locator(".pay-request .price")).to_have_text("¥88.00")
    expect(page.locator(".address-book")).to_be_visible()
    shoot(page, artifacts_dir, "store-payment-request")
    page.locator("#request-form button.pay-now").click()
    page.wait_for_url(re.compile(r"/sandbox/pay/[0-9a-f]{32}$"))
    page.locator("button.sandbox-pay-button").click()
    page.wait_for_url(re.compile(r"/me/orders/\d+/paid$"))
    page.locator("a.paid-order-link").click()
    page.wait_for_url(re.compile(r"/me/orders/\d+$"))
    expect(page.locator(".store-order-status.is-paid")).to_be_visible()


def test_a_shop_in_debt_sees_what_it_owes_and_what_needs_attention(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    """A refund after the shop withdrew everything: the buyer is refunded, the shop owes it;
    its money page says so, and lists what the platform is looking into."""
    seed_demo_shop(live_server)
    run_in_thread(_into_debt(live_server.app.state.settings))
    log_in(page, live_server, "/console/finance", MERCHANT)
    expect(page.locator(".balance.is-owed")).to_be_visible()
    expect(page.locator(".balance.is-owed .balance-amount")).to_have_text(re.compile(r"^¥"))
    expect(page.locator("section.attention li")).to_have_count(1)
    shoot(page, artifacts_dir, "console-finance-owed")


async def _into_debt(settings: Settings) -> None:
    runtime = build(settings)
    db = runtime.db
    try:
        async with db.transaction() as session:
            merchant = await accounts.get_or_create_user(session, MERCHANT[1])
            shop = await shops.get_for_owner(session, merchant)
            assert shop is not None
            completed = await session.scalar(
                select(Order).where(Order.shop_id == shop.id, Order.status == "completed")
            )
            assert completed is not None
            await anomalies.record(
                session,
                provider="sandbox",
                kind="refund_stuck",
                shop_id=shop.id,
                details={"amount": 500},
            )
        clock.advance(timedelta(days=1))
        await jobs.run_due(db, runtime.sweeps)
        async with db.transaction() as session:
            available = await ledger.balance(session, balances.available_of(shop.id))
            await withdrawals.request(session, settings, shop, merchant, available.amount)
        await runtime.drain_outbox()
        async with db.transaction() as session:
            await escrow.refund(
                session,
                settings,
                completed.id,
                amount=3000,
                requested_by="merchant",
                reason="破损",
            )
    finally:
        await runtime.close()


def run_in_thread(work: Coroutine[Any, Any, None]) -> None:
    """Playwright's sync API keeps an event loop running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()
