"""The console's home opens on the shop's day so far: orders placed and money paid since the
shop's local midnight, orders to ship, money available to withdraw. Another shop's orders
never count."""

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI

from pocketshop import clock
from tests.commerce import make_merchant, one_sku_and_buyer, ordered, pay
from tests.orders.test_store_pages import log_in
from tests.support import other_client


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'<dd class="figure-([a-z-]+)">([^<]*)</dd>', html))


async def test_the_home_shows_the_day_so_far(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The day begins at the shop's midnight (Asia/Shanghai, UTC+8), not UTC's: an order at
    23:50 there is yesterday's, though the same UTC day as one at 00:10."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    assert merchant.shop.timezone == "Asia/Shanghai"
    now = clock.now()
    evening = now.replace(hour=15, minute=50, second=0, microsecond=0) + timedelta(days=1)
    clock.advance(evening - now)  # 23:50 in Shanghai
    yesterdays = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay(app, yesterdays)
    clock.advance(timedelta(minutes=20))  # 00:10 in Shanghai, still 16:10 UTC of that day
    paid_today = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay(app, paid_today)
    await ordered(client, buyer, merchant.shop, [(sku, 1)])  # placed, not paid
    clock.advance(timedelta(minutes=20))

    await log_in(app, client, merchant.user)
    home = await client.get("/console")
    assert home.status_code == 200
    assert figures(home.text) == {
        "orders": "2",
        "paid": "¥198.00",  # two of ¥99.00; yesterday's order was paid yesterday
        "to-ship": "2",  # yesterday's and today's paid orders
        "available": "¥0.00",  # in escrow until received, then settled
    }
    assert re.search(r'class="badge"[^>]*>\s*2\s*<', home.text), "the nav's to-ship badge"

    async with other_client(app) as neighbour:
        other = await make_merchant(app, "隔壁的店")
        await log_in(app, neighbour, other.user)
        theirs = await neighbour.get("/console")
    assert figures(theirs.text) == {
        "orders": "0",
        "paid": "¥0.00",
        "to-ship": "0",
        "available": "¥0.00",
    }
