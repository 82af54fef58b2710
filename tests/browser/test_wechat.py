"""An account made by WeChat sign-in (no phone) on a phone in headless Chromium: checkout
sends it to add a phone, the SMS code step, and back where it was going, now with a phone.

Screenshots: bind-phone, bind-phone-code.
Selectors use names, values and structure, never interface text.
"""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pocketshop.accounts import identities
from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import SESSION_COOKIE, cookie_signer
from pocketshop.accounts.service import SessionKind
from pocketshop.config import Settings
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.browser.test_console import shoot

skip_without_playwright()  # before the import below, which needs the package
from playwright.sync_api import BrowserContext, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

PHONE = ("139 0013 9011", "+8613900139011")


async def _signed_in_with_wechat(settings: Settings) -> str:
    """Someone WeChat signed in (their openid, no phone): their session cookie, signed."""
    runtime = build(settings)
    try:
        async with runtime.db.transaction() as session:
            user = await identities.sign_in(session, "wx8a7b6c5d4e3f2a1b", "oTmHYjg6Qv4Tz4Qx")
            token, _auth = await accounts.start_session(session, settings, user, SessionKind.web)
        return cookie_signer(settings).sign(token).decode()
    finally:
        await runtime.close()


def test_an_account_from_wechat_adds_a_phone_before_it_orders(
    page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        cookie = pool.submit(
            asyncio.run, _signed_in_with_wechat(live_server.app.state.settings)
        ).result()
    context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server.url}])

    page.goto("/onboarding")  # opening a shop, like ordering, needs a phone
    page.wait_for_url(re.compile(r"/me/phone\?next=/onboarding$"))
    shoot(page, artifacts_dir, "bind-phone")
    page.locator("input[name=phone]").fill(PHONE[0])
    page.locator("form[action='/me/phone/code'] button[type=submit]").click()
    code_input = page.locator("input[name=code]")
    expect(code_input).to_be_visible()
    shoot(page, artifacts_dir, "bind-phone-code")
    sms = live_server.app.state.sms
    for _attempt in range(50):
        if any(message.phone == PHONE[1] for message in sms.sent):
            break
        page.wait_for_timeout(100)
    [text] = [message.text for message in sms.sent if message.phone == PHONE[1]]
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None
    code_input.fill(found.group(1))
    page.locator("form[action='/me/phone/login'] button[type=submit]").click()
    page.wait_for_url("**/onboarding")
    expect(page.locator("input[name=real_name]")).to_be_visible()  # the next step: identity
