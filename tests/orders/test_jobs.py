"""Timed order work: unpaid orders close after 30 minutes (not before) and give their stock
back; receipt is confirmed 10 days after the LAST package; every sweep is idempotent."""

from datetime import timedelta

import httpx
from fastapi import FastAPI

from pocketshop import clock
from pocketshop.db import Database
from tests.commerce import (
    events_to,
    make_buyer,
    make_merchant,
    make_product,
    one_sku_and_buyer,
    order_row,
    ordered,
    pay,
    row_counts,
    run_jobs,
    ship,
    stock_of,
)

NOTHING: dict[str, int] = {}


async def test_unpaid_order_closes_after_30_minutes(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]})
    red, blue = made.sku("红"), made.sku("蓝")
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(red, 2), (blue, 3)])
    paid = await ordered(client, buyer, merchant.shop, [(red, 1)])
    await pay(app, paid)
    assert (await stock_of(app, red.id), await stock_of(app, blue.id)) == (7, 7)

    # The clock runs on from the real one: count from the order's own deadline, so a slow
    # machine's seconds between placing it and the sweep change nothing.
    placed = await order_row(app, number)
    assert placed.pay_by is not None
    assert placed.pay_by - placed.created_at == timedelta(minutes=30)
    clock.advance(placed.pay_by - clock.now() - timedelta(seconds=5))
    assert await run_jobs(app) == NOTHING
    assert (await order_row(app, number)).status == "pending_payment"

    clock.advance(timedelta(seconds=5))
    assert await run_jobs(app) == NOTHING | {"close_unpaid_orders": 1}
    order = await order_row(app, number)
    assert (order.status, order.close_reason, order.pay_by) == ("closed", "unpaid_timeout", None)
    assert (await stock_of(app, red.id), await stock_of(app, blue.id)) == (9, 10)
    assert await events_to(app, number) == ["pending_payment", "closed"]
    assert (await order_row(app, paid)).status == "paid"

    settled = await row_counts(app)
    clock.advance(timedelta(days=1))
    assert await run_jobs(app) == NOTHING
    assert await run_jobs(app) == NOTHING
    assert await row_counts(app) == settled
    detail = await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)
    assert [(e["to_status"], e["actor"], e["reason"]) for e in detail.json()["events"]] == [
        ("pending_payment", "buyer", ""),
        ("closed", "system", "unpaid_timeout"),
    ]


async def test_receipt_confirms_10_days_after_the_last_package(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]})
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(made.sku("红"), 1), (made.sku("蓝"), 1)])
    await pay(app, number)
    detail = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
    first_line = detail.json()["lines"][0]["id"]
    first = await ship(client, merchant, number, "SF123456789012", lines={first_line: 1})
    assert first.status_code == 201, first.text

    clock.advance(timedelta(days=3))
    rest = await ship(client, merchant, number, "SF123456789013")
    assert rest.status_code == 201, rest.text
    last_shipped = clock.now()

    # 10 days after the FIRST package: not yet.
    clock.advance(timedelta(days=7))
    assert await run_jobs(app) == NOTHING
    clock.advance(timedelta(days=3) - timedelta(minutes=1))
    # A day before, the buyer was told (once) that receipt will be confirmed for them.
    assert await run_jobs(app) == NOTHING | {"receipt_reminders": 1}
    assert await run_jobs(app) == NOTHING
    assert (await order_row(app, number)).status == "shipped"

    clock.advance(timedelta(minutes=1))
    assert await run_jobs(app) == NOTHING | {"auto_confirm_receipt": 1}
    order = await order_row(app, number)
    assert order.status == "completed"
    assert order.completed_at is not None
    assert order.completed_at - last_shipped >= timedelta(days=10)
    assert order.auto_confirm_at is None
    history = ["pending_payment", "paid", "partially_shipped", "shipped", "completed"]
    assert await events_to(app, number) == history
    assert await run_jobs(app) == NOTHING
    assert await events_to(app, number) == history


async def test_a_confirmed_order_is_not_confirmed_again(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay(app, number)
    shipped = await ship(client, merchant, number, "abc-123456", carrier="OTHER")
    assert shipped.status_code == 201, shipped.text
    confirmed = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(timedelta(days=11))
    # Nothing to confirm; its money, released at receipt, is settled to the shop.
    assert await run_jobs(app) == {"settle_releases": 1}
    assert await run_jobs(app) == NOTHING
    assert await events_to(app, number) == ["pending_payment", "paid", "shipped", "completed"]


async def test_a_cancelled_order_is_not_closed_again(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 4)])
    cancelled = await client.post(f"/api/v1/me/shop/orders/{number}/cancel", headers=merchant.auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["close_reason"] == "merchant_cancelled"
    assert await stock_of(app, sku.id) == 10
    clock.advance(timedelta(hours=1))
    assert await run_jobs(app) == NOTHING
    assert await stock_of(app, sku.id) == 10
    assert await events_to(app, number) == ["pending_payment", "closed"]
