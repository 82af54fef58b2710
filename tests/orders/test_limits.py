"""What one buyer's unpaid orders may hold in a shop (each keeps its stock until paid or
closed): at most `max_unpaid_orders_per_shop` orders (429 beyond, until the oldest times out)
and `max_unpaid_units_per_sku` units of one SKU across them, the new order's included (409).
A refused order changes nothing; paying, cancelling or the timeout makes room again; other
shops and other buyers are unaffected. Checkout, the API and payment requests alike. (Two
checkouts at once: test_concurrency.)"""

from datetime import timedelta

import httpx
from fastapi import FastAPI

from pocketshop import clock
from pocketshop.catalog.models import Sku
from pocketshop.config import Settings
from pocketshop.shops.models import Shop
from tests.commerce import (
    ADDRESS,
    Buyer,
    make_buyer,
    make_merchant,
    make_product,
    one_sku_and_buyer,
    order_json,
    ordered,
    pay,
    place_order,
    row_counts,
    run_jobs,
)
from tests.orders.test_store_pages import add, cart_items, checkout_form, log_in
from tests.payments.test_requests import ask, take
from tests.support import api_error, page_alert, tr

TOO_MANY_ORDERS = (
    "You have too many unpaid orders in this shop (at most %(max)s). Pay for or cancel one of "
    "them to place a new order, or wait %(minutes)s min until the oldest one closes."
)
UNITS_HELD = (
    "Your unpaid orders in this shop already hold %(held)s of “%(title)s”, and at most %(max)s "
    "can wait for payment. Pay for or cancel one of them, or order fewer."
)
UNITS_AT_ONCE = "At most %(max)s of “%(title)s” can wait for payment at once: order fewer."


async def fill_up(
    client: httpx.AsyncClient, settings: Settings, buyer: Buyer, shop: Shop, sku: Sku
) -> list[str]:
    """As many unpaid orders as the buyer may hold in the shop, a minute apart."""
    numbers = []
    for _ in range(settings.max_unpaid_orders_per_shop):
        numbers.append(await ordered(client, buyer, shop, [(sku, 1)]))
        clock.advance(timedelta(minutes=1))
    return numbers


async def refused_for_orders(
    client: httpx.AsyncClient, buyer: Buyer, shop: Shop, sku: Sku
) -> httpx.Response:
    response = await place_order(client, buyer, shop, [(sku, 1)])
    api_error(response, 429, "too_many_unpaid_orders")
    return response


async def test_the_order_past_the_limit_is_refused_until_the_oldest_times_out(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    most = settings.max_unpaid_orders_per_shop
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    await fill_up(client, settings, buyer, merchant.shop, sku)

    before = await row_counts(app)
    refused = await refused_for_orders(client, buyer, merchant.shop, sku)
    assert await row_counts(app) == before
    # The oldest was placed `most` minutes ago: it closes when its time is up.
    left = (settings.unpaid_timeout_minutes - most) * 60
    assert left - 10 <= int(refused.headers["Retry-After"]) <= left
    message = tr(TOO_MANY_ORDERS, max=most, minutes=left // 60)
    assert refused.json()["error"]["message"] == message
    english = await client.post(
        "/api/v1/orders",
        json=order_json(merchant.shop, [(sku, 1)]),
        headers=buyer.auth | {"Accept-Language": "en"},
    )
    assert english.json()["error"]["message"] == TOO_MANY_ORDERS % {
        "max": most,
        "minutes": left // 60,
    }

    clock.advance(timedelta(seconds=left + 1))
    assert await run_jobs(app) == {"close_unpaid_orders": 1}
    await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await refused_for_orders(client, buyer, merchant.shop, sku)


async def test_paying_or_cancelling_an_unpaid_order_makes_room(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    numbers = await fill_up(client, settings, buyer, merchant.shop, sku)
    await refused_for_orders(client, buyer, merchant.shop, sku)

    await pay(app, numbers[0])
    await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await refused_for_orders(client, buyer, merchant.shop, sku)

    cancelled = await client.post(f"/api/v1/orders/{numbers[1]}/cancel", headers=buyer.auth)
    assert cancelled.status_code == 200, cancelled.text
    await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await refused_for_orders(client, buyer, merchant.shop, sku)


async def test_other_shops_and_other_buyers_are_not_limited(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    await fill_up(client, settings, buyer, merchant.shop, sku)
    await refused_for_orders(client, buyer, merchant.shop, sku)

    other_shop = await make_merchant(app, "隔壁的店")
    elsewhere = (await make_product(app, other_shop.shop, stock=100)).skus[0]
    await fill_up(client, settings, buyer, other_shop.shop, elsewhere)
    await fill_up(client, settings, await make_buyer(app), merchant.shop, sku)


async def test_a_retry_of_the_order_that_reached_the_limit_replays_it(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    for _ in range(settings.max_unpaid_orders_per_shop - 1):
        await ordered(client, buyer, merchant.shop, [(sku, 1)])
    body = order_json(merchant.shop, [(sku, 1)])
    keyed = buyer.auth | {"Idempotency-Key": "the-last-one"}
    last = await client.post("/api/v1/orders", json=body, headers=keyed)
    assert last.status_code == 201, last.text
    again = await client.post("/api/v1/orders", json=body, headers=keyed)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == last.json()["number"]
    another = buyer.auth | {"Idempotency-Key": "one-more"}
    api_error(
        await client.post("/api/v1/orders", json=body, headers=another),
        429,
        "too_many_unpaid_orders",
    )


async def test_units_of_one_sku_across_unpaid_orders_are_limited(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    most = settings.max_unpaid_units_per_sku
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]}, stock=100)
    red, blue = made.sku("红"), made.sku("蓝")
    buyer = await make_buyer(app)
    first = await ordered(client, buyer, merchant.shop, [(red, most - 5)])
    await ordered(client, buyer, merchant.shop, [(red, 5)])  # exactly the most

    before = await row_counts(app)
    for lines in ([(red, 1)], [(blue, 1), (red, 1)]):
        refused = await place_order(client, buyer, merchant.shop, lines)
        error = api_error(refused, 409, "too_many_unpaid_units")
        assert error["message"] == tr(UNITS_HELD, held=most, title="手工皮钱包", max=most)
    assert await row_counts(app) == before

    await ordered(client, buyer, merchant.shop, [(blue, most)])  # another SKU: its own count
    cancelled = await client.post(f"/api/v1/orders/{first}/cancel", headers=buyer.auth)
    assert cancelled.status_code == 200, cancelled.text
    await ordered(client, buyer, merchant.shop, [(red, most - 5)])

    # One order alone may not hold more either.
    someone = await make_buyer(app)
    alone = await place_order(client, someone, merchant.shop, [(red, most + 1)])
    error = api_error(alone, 409, "too_many_unpaid_units")
    assert error["message"] == tr(UNITS_AT_ONCE, title="手工皮钱包", max=most)
    await ordered(client, someone, merchant.shop, [(red, most)])


async def test_a_payment_request_counts_as_an_order(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    asked = await ask(client, merchant, amount=12800, note="定制 刻字费")
    assert asked.status_code == 201, asked.text
    await fill_up(client, settings, buyer, merchant.shop, sku)
    before = await row_counts(app)
    api_error(
        await take(client, buyer, merchant, asked.json()["id"]), 429, "too_many_unpaid_orders"
    )
    assert await row_counts(app) == before
    other = await make_buyer(app)
    taken = await take(client, other, merchant, asked.json()["id"])
    assert taken.status_code == 201, taken.text

    # The order it became is one of theirs like any other.
    for _ in range(settings.max_unpaid_orders_per_shop - 1):
        await ordered(client, other, merchant.shop, [(sku, 1)])
    await refused_for_orders(client, other, merchant.shop, sku)


async def test_the_checkout_page_shows_why(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]}, stock=100)
    buyer = await make_buyer(app)
    await fill_up(client, settings, buyer, merchant.shop, made.sku("蓝"))
    await log_in(app, client, buyer.user)
    await add(client, merchant.shop, made, "红", quantity=2)
    page = await client.get(f"/s/{merchant.shop.slug}/checkout")
    form = checkout_form(page.text, address="new", **ADDRESS)

    before = await row_counts(app)
    refused = await client.post(f"/s/{merchant.shop.slug}/checkout", data=form)
    assert refused.status_code == 429, refused.text
    left = (settings.unpaid_timeout_minutes - settings.max_unpaid_orders_per_shop) * 60
    assert left - 10 <= int(refused.headers["Retry-After"]) <= left
    code, message = page_alert(refused.text)
    assert code == "too_many_unpaid_orders"
    assert message == tr(
        TOO_MANY_ORDERS, max=settings.max_unpaid_orders_per_shop, minutes=left // 60
    )
    assert f'value="{ADDRESS["detail"]}"' in refused.text  # what was typed stays
    assert await row_counts(app) == before  # the cart too

    # Another buyer with too many of one SKU in the cart.
    most = settings.max_unpaid_units_per_sku
    someone = await make_buyer(app)
    await log_in(app, client, someone.user)
    await add(client, merchant.shop, made, "红", quantity=most + 1)
    page = await client.get(f"/s/{merchant.shop.slug}/checkout")
    refused = await client.post(
        f"/s/{merchant.shop.slug}/checkout",
        data=checkout_form(page.text, address="new", **ADDRESS),
    )
    assert refused.status_code == 409, refused.text
    assert page_alert(refused.text) == (
        "too_many_unpaid_units",
        tr(UNITS_AT_ONCE, title="手工皮钱包", max=most),
    )
    assert await cart_items(app, someone.user) == {made.sku("红").id: most + 1}
