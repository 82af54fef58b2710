"""The whole way of the money: an order paid through the sandbox (its hosted page, its
signed notification), shipped, received, settled the next day, withdrawn; balances right at
every step. The ledger's invariants are checked after every test (conftest)."""

from datetime import timedelta

import httpx
from fastapi import FastAPI

from pocketshop import clock
from tests.commerce import one_sku_and_buyer, order_row, ordered, run_jobs, ship
from tests.payments.money import balances, held, pay_through_sandbox, sandbox_trade, trade_no


async def test_order_paid_shipped_received_settled_and_withdrawn(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)  # ¥99.00 each, free shipping
    number = await ordered(client, buyer, merchant.shop, [(sku, 5)])
    assert await balances(client, merchant) == held()

    started = await pay_through_sandbox(client, buyer, number)
    assert started["payment"]["amount"] == 49500
    trade = await sandbox_trade(app, trade_no(started))
    assert trade.state == "SUCCESS"
    assert trade.notified_at is not None  # our callback answered 2xx
    assert (await order_row(app, number)).status == "paid"
    assert await balances(client, merchant) == held(escrow=49500)

    receipt = await client.get(f"/api/v1/orders/{number}/receipt", headers=buyer.auth)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["payment"]["status"] == "paid"
    assert receipt.json()["payment"]["transaction_id"] == trade.transaction_id

    assert (await ship(client, merchant, number, "SF1234567890123")).status_code == 201
    assert await balances(client, merchant) == held(escrow=49500)
    confirmed = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
    assert confirmed.status_code == 200, confirmed.text
    fee = 49500 * 60 // 10_000  # 0.6%: ¥2.97
    assert await balances(client, merchant) == held(pending=49500 - fee)

    # Settled the next day in the shop's time zone (Asia/Shanghai), not before.
    assert await run_jobs(app) == {}
    clock.advance(timedelta(days=1))
    assert await run_jobs(app) == {"settle_releases": 1}
    assert await balances(client, merchant) == held(available=49203)

    withdrawn = await client.post(
        "/api/v1/me/shop/withdrawals", json={"amount": 49203}, headers=merchant.auth
    )
    assert withdrawn.status_code == 201, withdrawn.text
    # The sandbox payout runs right after the request commits (the outbox).
    listed = await client.get("/api/v1/me/shop/withdrawals", headers=merchant.auth)
    assert [(one["amount"], one["status"]) for one in listed.json()] == [(49203, "paid")]
    assert await balances(client, merchant) == held(paid_out=49203)

    statement = await client.get("/api/v1/me/shop/finance/transactions", headers=merchant.auth)
    kinds = [(item["kind"], item["account"], item["amount"]) for item in statement.json()["items"]]
    assert kinds == [
        ("payout", "merchant_paid_out", 49203),
        ("payout", "merchant_withdrawing", -49203),
        ("withdraw", "merchant_withdrawing", 49203),
        ("withdraw", "merchant_available", -49203),
        ("settle", "merchant_available", 49203),
        ("settle", "merchant_pending", -49203),
        ("release", "merchant_pending", 49203),
        ("release", "order_escrow", -49500),
        ("capture", "order_escrow", 49500),
    ]
