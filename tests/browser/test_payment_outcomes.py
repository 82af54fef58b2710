"""How a payment turned out, on a phone in headless Chromium: a failed payment says so by the
pay button; paying again lands on the success page; the receipt lists a refund and holds only
the rest; a cancelled order shows its refund; a request without delivery asks no address.

Screenshots: h4_payment_failed, h4_payment_success, h4_receipt_refund, h4_cancelled_refund,
h4_no_delivery_request, h4_no_delivery_order. Selectors use names and structure, never text.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from pocketshop.orders.models import Order
from pocketshop.payments import escrow
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import log_in, shoot
from tests.browser.test_money import BUYER, MERCHANT, run_in_thread
from tests.browser.test_storefront import seed_demo_shop

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser


def _sandbox(page: Page, button: str) -> None:
    page.locator("form#pay-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/sandbox/pay/[0-9a-f]{32}$"))
    page.locator(f"button.{button}").click()


def _refund_part(live_server: LiveServer, number: str, amount: int) -> None:
    settings = live_server.app.state.settings

    async def run() -> None:
        runtime = build(settings)
        try:
            async with runtime.db.transaction() as session:
                order_id = await session.scalar(select(Order.id).where(Order.number == number))
                assert order_id is not None
                await escrow.refund(
                    session,
                    settings,
                    order_id,
                    amount=amount,
                    requested_by="merchant",
                    reason="少发一件",
                )
            await runtime.drain_outbox()
        finally:
            await runtime.close()

    run_in_thread(run())


def test_failed_then_paid_then_refunded(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/me/orders", BUYER)
    page.locator(".store-order-card:has(.store-status.is-pending_payment) a").first.click()
    page.wait_for_url(re.compile(r"/me/orders/\d+$"))
    number = page.url.rsplit("/", 1)[-1]

    # Failed at the provider: back by the pay button, which still pays.
    _sandbox(page, "sandbox-fail")
    page.wait_for_url(re.compile(rf"/me/orders/{number}\?pay_problem=payment_failed#pay-problem$"))
    expect(page.locator("#pay-problem.alert")).to_be_visible()
    expect(page.locator("form#pay-form")).to_have_count(1)
    shoot(page, artifacts_dir, "h4_payment_failed")

    # Paid: the success page, with the way to the order and the shop.
    _sandbox(page, "sandbox-pay-button")
    page.wait_for_url(f"**/me/orders/{number}/paid")
    expect(page.locator(".pay-success")).to_be_visible()
    expect(page.locator(".paid-order-number")).to_have_text(number)
    expect(page.locator(".money-state.is-held")).to_be_visible()
    shoot(page, artifacts_dir, "h4_payment_success")

    # A part refunded by the shop: the receipt lists it and holds only the rest.
    _refund_part(live_server, number, 1000)
    page.goto(f"/me/orders/{number}/receipt")
    expect(page.locator(".refund-row")).to_have_count(1)
    expect(page.locator(".money-state.is-held")).to_be_visible()
    expect(page.locator(".money-state.is-partly-refunded")).to_be_visible()
    shoot(page, artifacts_dir, "h4_receipt_refund")

    # Cancelled: the rest comes back; the order shows both refunds and when they arrive.
    page.goto(f"/me/orders/{number}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("button.cancel-order").click()
    page.wait_for_url(re.compile(rf"/me/orders/{number}$"))
    expect(page.locator(".store-order-status.is-closed")).to_be_visible()
    expect(page.locator("#refunds .refund-row")).to_have_count(2)
    page.locator("#refunds").scroll_into_view_if_needed()
    shoot(page, artifacts_dir, "h4_cancelled_refund")


def test_a_request_without_delivery(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    seed_demo_shop(live_server)
    log_in(page, live_server, "/console/payment-requests", MERCHANT)
    page.locator("form.request-form input[name=amount]").fill("300")
    page.locator("form.request-form input[name=note]").fill("上门安装调试费")
    page.locator("form.request-form select[name=no_delivery]").select_option("1")
    page.locator("form.request-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/payment-requests/[0-9a-f]{32}(#new)?$"))
    expect(page.locator(".request-detail .no-delivery")).to_be_visible()
    link = page.locator("input.request-link").input_value()

    page.context.clear_cookies()
    log_in(page, live_server, urlsplit(link).path, BUYER)
    expect(page.locator(".pay-request .no-delivery")).to_be_visible()
    expect(page.locator(".address-book")).to_have_count(0)
    shoot(page, artifacts_dir, "h4_no_delivery_request")
    page.locator("#request-form button.pay-now").click()
    page.wait_for_url(re.compile(r"/sandbox/pay/[0-9a-f]{32}$"))
    page.locator("button.sandbox-pay-button").click()
    page.wait_for_url(re.compile(r"/me/orders/\d+/paid$"))
    page.locator("a.paid-order-link").click()
    page.wait_for_url(re.compile(r"/me/orders/\d+$"))
    expect(page.locator(".card.no-delivery")).to_be_visible()
    expect(page.locator("button.confirm-receipt")).to_be_visible()
    shoot(page, artifacts_dir, "h4_no_delivery_order")
