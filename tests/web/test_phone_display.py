"""A phone reads the same wherever it is shown: through the `phone` template filter
(accounts.service.display_phone), on the merchant's console and the buyer's pages alike."""

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from pocketshop.accounts.service import display_phone
from pocketshop.db import Database
from pocketshop.shops.models import Shop
from pocketshop.web.templating import environment
from tests.commerce import ADDRESS, make_buyer, make_merchant, make_product, ordered, web_login
from tests.support import other_client


def test_the_filter_is_display_phone() -> None:
    shown = environment.from_string("{{ number|phone }}")
    assert shown.render(number="+8613800138000") == "138 0013 8000"
    for number in ("+8613800138000", "+14155552671", "not a phone"):
        assert shown.render(number=number) == str(display_phone(number))
    assert shown.render(number=None) == ""
    assert shown.render(number="") == ""


def shown_phone(html: str, before: str) -> str:
    """The text of the element right after `before` (the recipient's name)."""
    found = re.search(re.escape(before) + r"</strong>\s*<(?:a|span)\b[^>]*>([^<]*)<", html)
    assert found, html
    return found.group(1)


async def test_console_and_buyer_show_the_same_phone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "电话一致")
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)])
    async with other_client(app) as as_merchant, other_client(app) as as_buyer:
        await web_login(app, as_merchant, merchant.user)
        await web_login(app, as_buyer, buyer.user)
        console = await as_merchant.get(f"/console/orders/{number}")
        mine = await as_buyer.get(f"/me/orders/{number}")
    assert console.status_code == 200, console.text
    assert mine.status_code == 200, mine.text
    expected = display_phone("+86" + ADDRESS["phone"])
    assert expected == "139 0013 9000"
    assert shown_phone(console.text, ADDRESS["recipient"]) == expected
    assert shown_phone(mine.text, ADDRESS["recipient"]) == expected
    # The console's number still dials: the link keeps the full number.
    assert 'href="tel:+8613900139000"' in console.text


async def test_the_shops_customer_service_phone(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        await session.execute(
            update(Shop).where(Shop.id == merchant.shop.id).values(service_phone="+8613800138000")
        )
    home = await client.get(f"/s/{merchant.shop.slug}")
    assert '<a href="tel:+8613800138000">138 0013 8000</a>' in home.text
