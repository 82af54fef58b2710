"""Payment requests: the merchant asks for products or a typed amount; the buyer who opens
the link gives an address and pays; it becomes an ordinary order. Refused input changes
nothing; a paid request cannot be paid again, by anyone; two buyers at once make one order;
another shop cannot see or cancel it."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.db import Database
from pocketshop.orders.models import Order
from pocketshop.payments.models import PaymentRequest
from tests.commerce import (
    ADDRESS,
    Buyer,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    run_jobs,
    stock_of,
)
from tests.payments.money import pay_through_sandbox
from tests.support import api_error

BASE = "/api/v1/me/shop/payment-requests"


async def ask(client: httpx.AsyncClient, merchant: Merchant, **body: Any) -> httpx.Response:
    return await client.post(BASE, json=body, headers=merchant.auth)


async def take(
    client: httpx.AsyncClient, buyer: Buyer, merchant: Merchant, request_id: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/shops/{merchant.shop.slug}/payment-requests/{request_id}/orders",
        json={"address": ADDRESS},
        headers=buyer.auth,
    )


async def request_count(db: Database) -> int:
    async with db.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(PaymentRequest)) or 0)


async def test_an_amount_request_becomes_an_ordinary_paid_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await ask(client, merchant, amount=12800, note="  定制 刻字费 ")
    assert made.status_code == 201, made.text
    request_id = made.json()["id"]
    assert made.json()["note"] == "定制 刻字费"
    assert made.json()["link"] == f"http://testserver/s/{merchant.shop.slug}/pay/{request_id}"
    public = f"/api/v1/shops/{merchant.shop.slug}/payment-requests/{request_id}"
    shown = await client.get(public)
    assert (shown.json()["total"], shown.json()["status"]) == (12800, "open")

    buyer = await make_buyer(app)
    taken = await take(client, buyer, merchant, request_id)
    assert taken.status_code == 201, taken.text
    number = taken.json()["order"]
    assert taken.json()["total"] == 12800
    order = await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)
    assert [(line["title"], line["unit_price"]) for line in order.json()["lines"]] == [
        ("定制 刻字费", 12800)
    ]
    assert (order.json()["shipping_fee"], order.json()["source"]) == (0, "payment_request")
    await pay_through_sandbox(client, buyer, number)
    assert (await order_row(app, number)).status == "paid"
    after = await client.get(f"{BASE}/{request_id}", headers=merchant.auth)
    assert (after.json()["status"], after.json()["order"]) == ("paid", number)
    # Anyone with the link sees it was paid, not whose order it became.
    assert (await client.get(public)).json()["order"] is None
    # It is the shop's order like any other.
    listed = await client.get("/api/v1/me/shop/orders", headers=merchant.auth)
    assert number in [item["number"] for item in listed.json()["items"]]

    # Nobody pays it again.
    again = await take(client, await make_buyer(app), merchant, request_id)
    api_error(again, 409, "request_paid")
    api_error(await take(client, buyer, merchant, request_id), 409, "request_paid")


async def test_a_products_request_prices_and_reserves_like_checkout(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "帆布包", price=4500, stock=10)
    sku = made.skus[0]
    # The same SKU twice is one line, as at checkout.
    asked = await ask(
        client,
        merchant,
        items=[{"sku_id": sku.public_id, "quantity": 1}, {"sku_id": sku.public_id, "quantity": 2}],
    )
    assert asked.status_code == 201, asked.text
    assert [line["quantity"] for line in asked.json()["lines"]] == [3]
    assert asked.json()["total"] == 13500
    buyer = await make_buyer(app)
    taken = await take(client, buyer, merchant, asked.json()["id"])
    assert taken.status_code == 201, taken.text
    assert await stock_of(app, sku.id) == 7
    assert (await order_row(app, taken.json()["order"])).source == "payment_request"
    # The same buyer again: the same order, not a second one.
    again = await take(client, buyer, merchant, asked.json()["id"])
    assert again.json()["order"] == taken.json()["order"]
    assert await stock_of(app, sku.id) == 7


async def test_a_products_request_shows_the_shipping_its_order_charges(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    rule = await client.put(
        "/api/v1/me/shop/shipping-rule",
        json={"kind": "free_above", "fee": 1000, "free_above": 30000},
        headers=merchant.auth,
    )
    assert rule.status_code == 200, rule.text
    sku = (await make_product(app, merchant.shop, "帆布包", price=4500, stock=10)).skus[0]
    asked = await ask(client, merchant, items=[{"sku_id": sku.public_id, "quantity": 2}])
    assert (asked.json()["shipping"], asked.json()["total"]) == (1000, 10000)
    taken = await take(client, await make_buyer(app), merchant, asked.json()["id"])
    assert taken.json()["total"] == 10000
    # Once taken it shows its order, whatever the catalog says now.
    await client.put("/api/v1/me/shop/shipping-rule", json={"kind": "free"}, headers=merchant.auth)
    shown = await client.get(f"{BASE}/{asked.json()['id']}", headers=merchant.auth)
    assert (shown.json()["shipping"], shown.json()["total"]) == (1000, 10000)
    typed = await ask(client, merchant, amount=5000, note="尾款")
    assert (typed.json()["shipping"], typed.json()["total"]) == (0, 5000)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount": 100, "note": "x", "items": [{"sku_id": "a" * 32, "quantity": 1}]},
        {"amount": 0, "note": "x"},
        {"amount": -5, "note": "x"},
        {"amount": 10**9 + 1, "note": "x"},
        {"amount": 1.5, "note": "x"},
        {"amount": "500", "note": "x"},
        {"amount": 500},
        {"amount": 500, "note": "x" * 61},
        {"amount": 500, "note": "x", "expires_in_hours": 0},
        {"amount": 500, "note": "x", "expires_in_hours": 721},
        {"items": [{"sku_id": "f" * 32, "quantity": 1}]},
        {"items": [{"sku_id": "OTHER", "quantity": 1}]},
        {"items": [{"sku_id": "MINE", "quantity": 0}]},
        {"items": [{"sku_id": "MINE", "quantity": 1}, {"sku_id": "MINE", "quantity": 999}]},
        {"amount": 500, "note": "x", "price": 1},
    ],
)
async def test_bad_requests_are_refused_and_make_nothing(
    app: FastAPI, client: httpx.AsyncClient, db: Database, body: dict[str, Any]
) -> None:
    merchant = await make_merchant(app)
    mine = (await make_product(app, merchant.shop, "我的")).skus[0].public_id
    other = await make_merchant(app, "别人的店")
    theirs = (await make_product(app, other.shop, "别人的")).skus[0].public_id
    for item in body.get("items", []):
        item["sku_id"] = {"MINE": mine, "OTHER": theirs}.get(item["sku_id"], item["sku_id"])
    answer = await ask(client, merchant, **body)
    assert answer.status_code == 422, answer.text
    assert await request_count(db) == 0


async def test_two_buyers_at_once_make_one_order(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await make_merchant(app)
    request_id = (await ask(client, merchant, amount=999, note="尾款")).json()["id"]
    buyers = [await make_buyer(app) for _ in range(2)]
    answers = await asyncio.gather(*(take(client, b, merchant, request_id) for b in buyers))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201, 409], [answer.text for answer in answers]
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_an_unpaid_order_that_times_out_frees_the_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    request_id = (await ask(client, merchant, amount=999, note="尾款")).json()["id"]
    first, second = await make_buyer(app), await make_buyer(app)
    assert (await take(client, first, merchant, request_id)).status_code == 201
    api_error(await take(client, second, merchant, request_id), 409, "request_taken")
    clock.advance(timedelta(minutes=31))
    assert (await run_jobs(app)).get("close_unpaid_orders") == 1
    assert (await take(client, second, merchant, request_id)).status_code == 201


async def test_expired_and_cancelled_requests_cannot_be_paid(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    buyer = await make_buyer(app)
    short = (await ask(client, merchant, amount=999, note="a", expires_in_hours=1)).json()["id"]
    clock.advance(timedelta(hours=1))
    api_error(await take(client, buyer, merchant, short), 409, "request_expired")
    cancelled = (await ask(client, merchant, amount=999, note="b")).json()["id"]
    done = await client.post(f"{BASE}/{cancelled}/cancel", headers=merchant.auth)
    assert done.json()["status"] == "cancelled"
    api_error(await take(client, buyer, merchant, cancelled), 409, "request_cancelled")


async def test_cancelling_closes_the_order_a_buyer_opened_from_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    sku = (await make_product(app, merchant.shop, "帆布包", price=4500, stock=10)).skus[0]
    asked = await ask(client, merchant, items=[{"sku_id": sku.public_id, "quantity": 3}])
    request_id = asked.json()["id"]
    buyer = await make_buyer(app)
    number = (await take(client, buyer, merchant, request_id)).json()["order"]
    assert await stock_of(app, sku.id) == 7
    done = await client.post(f"{BASE}/{request_id}/cancel", headers=merchant.auth)
    assert (done.json()["status"], done.json()["order"]) == ("cancelled", None)
    assert (await order_row(app, number)).status == "closed"
    assert await stock_of(app, sku.id) == 10
    paying = await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "sandbox", "channel": "page"},
        headers=buyer.auth,
    )
    api_error(paying, 409, "not_payable")
    api_error(await take(client, buyer, merchant, request_id), 409, "request_cancelled")
    again = await client.post(f"{BASE}/{request_id}/cancel", headers=merchant.auth)
    assert again.json()["status"] == "cancelled"


async def test_a_paid_request_cannot_be_cancelled(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    buyer = await make_buyer(app)
    request_id = (await ask(client, merchant, amount=999, note="c")).json()["id"]
    number = (await take(client, buyer, merchant, request_id)).json()["order"]
    await pay_through_sandbox(client, buyer, number)
    api_error(
        await client.post(f"{BASE}/{request_id}/cancel", headers=merchant.auth), 409, "request_paid"
    )


async def test_another_shop_cannot_see_or_cancel_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    other = await make_merchant(app, "隔壁的店")
    request_id = (await ask(client, merchant, amount=999, note="d")).json()["id"]
    for method, path in [("GET", f"{BASE}/{request_id}"), ("POST", f"{BASE}/{request_id}/cancel")]:
        answer = await client.request(method, path, headers=other.auth)
        api_error(answer, 404, "payment_request_not_found")
    assert (await client.get(BASE, headers=other.auth)).json() == []
    wrong_shop = await client.get(f"/api/v1/shops/{other.shop.slug}/payment-requests/{request_id}")
    api_error(wrong_shop, 404, "payment_request_not_found")
    assert (await client.get(f"{BASE}/{request_id}", headers=merchant.auth)).json()[
        "status"
    ] == "open"
