"""Payment requests: the merchant asks for products or a typed amount; the buyer who opens
the link gives an address and pays; it becomes an ordinary order. Refused input changes
nothing; nobody holds a request: several buyers may start paying, the first payment wins and
a second one is refunded whole; a paid request cannot be paid again, by anyone; another shop
cannot see or cancel it."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.db import Database
from pocketshop.payments.models import PaymentRequest
from tests.commerce import (
    ADDRESS,
    Buyer,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    stock_of,
)
from tests.payments.money import pay_through_sandbox, press, start_payment, trade_no
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
    buyer = await make_buyer(app)
    taken = await take(client, buyer, merchant, asked.json()["id"])
    assert taken.json()["total"] == 10000
    await pay_through_sandbox(client, buyer, taken.json()["order"])
    # Once paid it shows its order, whatever the catalog says now.
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


async def test_nobody_holds_a_request_and_the_first_payment_wins(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    """Two buyers open it at once and both start paying: the first payment pays the request;
    the second buyer's money goes back in full and their order closes."""
    merchant = await make_merchant(app)
    request_id = (await ask(client, merchant, amount=999, note="尾款")).json()["id"]
    buyers = [await make_buyer(app) for _ in range(2)]
    answers = await asyncio.gather(*(take(client, b, merchant, request_id) for b in buyers))
    assert [answer.status_code for answer in answers] == [201, 201]
    first, second = (answer.json()["order"] for answer in answers)
    # Opening it again gives the same order back.
    again = await take(client, buyers[0], merchant, request_id)
    assert again.json()["order"] == first
    started = [
        await start_payment(client, buyer, number)
        for buyer, number in zip(buyers, (first, second), strict=True)
    ]
    for one in started:
        assert (await press(client, trade_no(one))).status_code == 303
    shown = await client.get(f"{BASE}/{request_id}", headers=merchant.auth)
    assert (shown.json()["status"], shown.json()["order"]) == ("paid", first)
    assert (await order_row(app, first)).status == "paid"
    # The request paid, the second order closed, and its payment closed at the provider
    # before the second buyer pressed Pay: nothing was taken, nothing is to return. (A
    # payment that does arrive late goes straight back: the test after this one.)
    late = await order_row(app, second)
    assert (late.status, late.close_reason) == ("closed", "request_closed")
    returned = await client.get(f"/api/v1/me/shop/orders/{second}/refunds", headers=merchant.auth)
    assert returned.json() == []
    payments = await client.get(f"/api/v1/me/shop/orders/{second}/payments", headers=merchant.auth)
    assert [payment["status"] for payment in payments.json()] == ["closed"]
    api_error(await take(client, buyers[1], merchant, request_id), 409, "request_paid")


async def test_a_second_order_paid_before_it_was_closed_is_refunded_whole(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both orders paid before the first payment's follow-up closed the other: the request
    is the first's, the second order is refunded in full, and closes."""
    merchant = await make_merchant(app)
    request_id = (await ask(client, merchant, amount=999, note="尾款")).json()["id"]
    buyers = [await make_buyer(app) for _ in range(2)]
    numbers = [(await take(client, b, merchant, request_id)).json()["order"] for b in buyers]
    started = [
        await start_payment(client, buyer, number)
        for buyer, number in zip(buyers, numbers, strict=True)
    ]
    dispatch = app.state.dispatch_outbox

    async def later() -> None:
        return None

    monkeypatch.setattr(app.state, "dispatch_outbox", later)
    for one in started:
        assert (await press(client, trade_no(one))).status_code == 303
    await dispatch()
    shown = await client.get(f"{BASE}/{request_id}", headers=merchant.auth)
    assert (shown.json()["status"], shown.json()["order"]) == ("paid", numbers[0])
    second = await order_row(app, numbers[1])
    assert (second.status, second.close_reason) == ("closed", "refunded")
    receipt = await client.get(f"/api/v1/orders/{numbers[1]}/receipt", headers=buyers[1].auth)
    assert (receipt.json()["refunded"], receipt.json()["payment"]["status"]) == (999, "refunded")


async def test_orders_still_waiting_close_once_the_request_is_paid(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    sku = (await make_product(app, merchant.shop, "帆布包", price=4500, stock=10)).skus[0]
    asked = await ask(client, merchant, items=[{"sku_id": sku.public_id, "quantity": 2}])
    request_id = asked.json()["id"]
    payer, waiter = await make_buyer(app), await make_buyer(app)
    paid = (await take(client, payer, merchant, request_id)).json()["order"]
    waiting = (await take(client, waiter, merchant, request_id)).json()["order"]
    assert await stock_of(app, sku.id) == 6
    await pay_through_sandbox(client, payer, paid)
    closed = await order_row(app, waiting)
    assert (closed.status, closed.close_reason) == ("closed", "request_closed")
    assert await stock_of(app, sku.id) == 8
    paying = await client.post(
        f"/api/v1/orders/{waiting}/payments",
        json={"provider": "sandbox", "channel": "page"},
        headers=waiter.auth,
    )
    api_error(paying, 409, "not_payable")


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
