"""Notifications on a phone in headless Chromium: the inbox with a few rows (the newest
unread, marked), marking them read, and the settings grid of which ones also come by SMS or
WeChat, saved with its confirmation.

Screenshots: notifications-inbox, notifications-read, notifications-settings,
notifications-settings-saved. Selectors use names, values and structure, never interface text.
"""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pocketshop import clock
from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.notifications import service
from pocketshop.notifications.events import Event
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import log_in, shoot
from tests.commerce import open_verified_shop

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

MERCHANT = ("139 0013 9055", "+8613900139055")
NUMBER = "2026120409153327"
# Oldest first; the first two are read before the rest arrive.
TOLD: list[tuple[Event, dict[str, Any]]] = [
    (Event.withdrawal_paid, {"amount": 50000, "currency": "CNY"}),
    (Event.settled, {"number": "2026120108301145", "amount": 9900, "currency": "CNY"}),
    (Event.low_stock, {"left": 2, "title": "手工皮钱包", "spec": "棕色", "product": "p1"}),
    (
        Event.order_shipped,
        {
            "number": "2026120310224561",
            "shop": "阿香的小铺",
            "carrier_label": "SF Express",
            "tracking": "SF1234567890123",
        },
    ),
    (Event.order_paid, {"number": NUMBER, "amount": 12800, "currency": "CNY"}),
]


def test_the_inbox_and_its_settings_on_a_phone(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    # Logged in first: the SMS of the notifications would come after the login code.
    log_in(page, live_server, "/me/notifications", MERCHANT)
    expect(page.locator("li.notification")).to_have_count(0)
    run_in_thread(_tell(live_server.app.state.settings))
    page.reload()

    cards = page.locator("li.notification")
    expect(cards).to_have_count(len(TOLD))
    expect(page.locator("li.notification.is-unread")).to_have_count(3)
    expect(cards.first.locator("a")).to_have_attribute("href", f"/console/orders/{NUMBER}")
    expect(cards.first.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    shoot(page, artifacts_dir, "notifications-inbox")

    page.locator("form[action='/me/notifications/read'] button[type=submit]").click()
    page.wait_for_url("**/me/notifications?done=read")
    expect(page.locator("p.notice")).to_be_visible()
    expect(page.locator("li.notification.is-unread")).to_have_count(0)
    expect(page.locator("form[action='/me/notifications/read']")).to_have_count(0)
    shoot(page, artifacts_dir, "notifications-read")

    page.locator("a[href='/me/notifications/settings']").click()
    page.wait_for_url("**/me/notifications/settings")
    rows = page.locator("fieldset.notification-choice")
    expect(rows.first).to_be_visible()
    expect(rows).to_have_count(len(Event))  # a shop's owner: a buyer's and a shop's
    expect(page.locator("input[type=checkbox]:disabled:checked")).to_have_count(len(Event))
    sms = page.locator("input[name=sms][value=order_paid]")
    expect(sms).to_be_checked()
    shoot(page, artifacts_dir, "notifications-settings")

    sms.uncheck()
    page.locator("input[name=sms][value=settled]").check()
    page.locator("form.notification-settings button[type=submit]").click()
    page.wait_for_url("**/me/notifications/settings?done=saved")
    expect(page.locator("p.notice")).to_be_visible()
    expect(page.locator("input[name=sms][value=order_paid]")).not_to_be_checked()
    expect(page.locator("input[name=sms][value=settled]")).to_be_checked()
    shoot(page, artifacts_dir, "notifications-settings-saved")


async def _tell(settings: Settings) -> None:
    """A merchant with a shop, told of a few things a while apart (the oldest read)."""
    runtime = build(settings)
    db = runtime.db
    try:
        async with db.transaction() as session:
            user = await accounts.get_or_create_user(session, MERCHANT[1])
            await open_verified_shop(session, settings, user, "阿香的小铺")
            user_id = user.id
        for index, (event, params) in enumerate(TOLD):
            if index == 2:
                async with db.transaction() as session:
                    await service.mark_read(session, await session.get_one(User, user_id))
            clock.advance(timedelta(minutes=37))
            async with db.transaction() as session:
                await service.record(
                    session,
                    {
                        "event": event.value,
                        "key": f"browser-{index}",
                        "params": params,
                        "user_id": user_id,
                        "shop_id": None,
                    },
                )
    finally:
        await runtime.close()


def run_in_thread(work: Any) -> None:
    """Playwright's sync API keeps an event loop running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()
