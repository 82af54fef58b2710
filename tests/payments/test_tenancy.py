"""Whose money: a merchant sees and refunds only their own shop's orders and withdrawals; a
buyer pays, refreshes and reads receipts only of their own orders. Refused by 404, nothing
changed."""

import httpx
from fastapi import FastAPI

from tests.commerce import make_buyer, make_merchant, one_sku_and_buyer, ordered
from tests.payments.money import money_counts, pay_through_sandbox, start_payment
from tests.support import api_error


async def test_another_shop_cannot_see_or_refund_an_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    other = await make_merchant(app, "隔壁的店")
    before = await money_counts(app)
    for method, path, body in [
        ("GET", f"/api/v1/me/shop/orders/{number}/payments", None),
        ("GET", f"/api/v1/me/shop/orders/{number}/refunds", None),
        ("POST", f"/api/v1/me/shop/orders/{number}/refunds", {"amount": 100}),
    ]:
        answer = await client.request(method, path, json=body, headers=other.auth)
        api_error(answer, 404, "order_not_found")
    assert await money_counts(app) == before
    own = await client.get(f"/api/v1/me/shop/orders/{number}/payments", headers=merchant.auth)
    assert [payment["status"] for payment in own.json()] == ["paid"]
    theirs = await client.get("/api/v1/me/shop/finance", headers=other.auth)
    assert theirs.json()["escrow"] == 0


async def test_another_shop_cannot_read_a_withdrawal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    other = await make_merchant(app, "隔壁的店")
    listed = await client.get("/api/v1/me/shop/withdrawals", headers=other.auth)
    assert listed.json() == []
    api_error(
        await client.get("/api/v1/me/shop/withdrawals/" + "0" * 32, headers=merchant.auth),
        404,
        "withdrawal_not_found",
    )


async def test_another_buyer_cannot_pay_refresh_or_read_an_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    started = await start_payment(client, buyer, number)
    stranger = await make_buyer(app)
    before = await money_counts(app)
    paying = await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "sandbox", "channel": "page"},
        headers=stranger.auth,
    )
    api_error(paying, 404, "order_not_found")
    refreshing = await client.post(
        f"/api/v1/payments/{started['payment']['id']}/refresh", headers=stranger.auth
    )
    api_error(refreshing, 404, "payment_not_found")
    api_error(
        await client.get(f"/api/v1/orders/{number}/receipt", headers=stranger.auth),
        404,
        "order_not_found",
    )
    assert await money_counts(app) == before


async def test_paying_needs_an_unpaid_order_and_an_offered_provider(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    for body, status, code in [
        ({"provider": "paypal", "channel": "page"}, 404, "provider_not_found"),
        ({"provider": "sandbox", "channel": "native"}, 422, "channel_not_offered"),
        ({"provider": "sandbox", "channel": "page", "amount": 1}, 422, "invalid"),
    ]:
        answer = await client.post(
            f"/api/v1/orders/{number}/payments", json=body, headers=buyer.auth
        )
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code
    await pay_through_sandbox(client, buyer, number)
    again = await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "sandbox", "channel": "page"},
        headers=buyer.auth,
    )
    api_error(again, 409, "not_payable")
