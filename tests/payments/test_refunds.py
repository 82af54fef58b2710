"""Refunds: never more than was paid, however they are asked (one by one, at once, twice with
the same key); a whole refund of an order not yet received closes it and puts its stock back;
after receipt the refund comes out of the shop's pending money with the fee handed back;
after settlement it is refused. A provider that refuses a refund gives the money back."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.payments.providers import RefundResult, RefundState
from tests.commerce import (
    Merchant,
    one_sku_and_buyer,
    order_row,
    ordered,
    run_jobs,
    ship,
    stock_of,
)
from tests.payments.money import (
    balances,
    held,
    money_counts,
    pay_through_sandbox,
    received,
    settled,
    withdraw,
)
from tests.support import api_error

PRICE = 9900  # one_sku_and_buyer's SKU


async def refund(
    client: httpx.AsyncClient, merchant: Merchant, number: str, amount: Any, **extra: Any
) -> httpx.Response:
    headers = dict(merchant.auth)
    if "key" in extra:
        headers["Idempotency-Key"] = extra.pop("key")
    return await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds",
        json={"amount": amount, **extra},
        headers=headers,
    )


async def refunds_of(client: httpx.AsyncClient, merchant: Merchant, number: str) -> list[Any]:
    listed = await client.get(f"/api/v1/me/shop/orders/{number}/refunds", headers=merchant.auth)
    assert listed.status_code == 200, listed.text
    return [(one["amount"], one["status"], one["requested_by"]) for one in listed.json()]


async def test_buyer_cancelling_a_paid_order_gets_everything_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 3)])
    await pay_through_sandbox(client, buyer, number)
    assert await stock_of(app, sku.id) == 7
    cancelled = await client.post(f"/api/v1/orders/{number}/cancel", headers=buyer.auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["close_reason"] == "buyer_cancelled"
    assert await stock_of(app, sku.id) == 10
    assert await refunds_of(client, merchant, number) == [(3 * PRICE, "succeeded", "buyer")]
    receipt = (await client.get(f"/api/v1/orders/{number}/receipt", headers=buyer.auth)).json()
    assert receipt["refunded"] == 3 * PRICE
    assert receipt["payment"]["status"] == "refunded"
    assert await balances(client, merchant) == held()


async def test_partial_then_the_rest_closes_the_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay_through_sandbox(client, buyer, number)
    first = await refund(client, merchant, number, 1000, reason="  少发 一个赠品 ")
    assert first.status_code == 201, first.text
    assert first.json()["reason"] == "少发 一个赠品"
    assert (await order_row(app, number)).status == "paid"
    assert await balances(client, merchant) == held(escrow=2 * PRICE - 1000)
    api_error(await refund(client, merchant, number, 2 * PRICE - 999), 409, "refund_too_large")
    rest = await refund(client, merchant, number, 2 * PRICE - 1000)
    assert rest.status_code == 201, rest.text
    order = await order_row(app, number)
    assert (order.status, order.close_reason) == ("closed", "refunded")
    assert await stock_of(app, sku.id) == 10
    assert await balances(client, merchant) == held()
    api_error(await refund(client, merchant, number, 1), 409, "refund_too_large")


@pytest.mark.parametrize("amount", [0, -100, 1.5, "100", None, 10**12, True])
async def test_bad_amounts_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, amount: Any
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    before = await money_counts(app)
    answer = await refund(client, merchant, number, amount)
    assert answer.status_code == 422, answer.text
    assert await money_counts(app) == before
    assert await balances(client, merchant) == held(escrow=PRICE)


async def test_an_unpaid_order_has_nothing_to_refund(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    api_error(await refund(client, merchant, number, 100), 409, "not_paid")


async def test_two_full_refunds_at_once_make_one(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay_through_sandbox(client, buyer, number)
    answers = await asyncio.gather(*(refund(client, merchant, number, 2 * PRICE) for _ in range(2)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes[0] == 201
    assert codes[1] in (409, 422), [answer.text for answer in answers]
    assert await refunds_of(client, merchant, number) == [(2 * PRICE, "succeeded", "merchant")]
    assert await balances(client, merchant) == held()


async def test_the_same_key_twice_is_one_refund(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay_through_sandbox(client, buyer, number)
    first, second = [await refund(client, merchant, number, 500, key="r-1") for _ in range(2)]
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    api_error(await refund(client, merchant, number, 600, key="r-1"), 422, "idempotency_key_reused")
    assert await refunds_of(client, merchant, number) == [(500, "succeeded", "merchant")]


async def test_the_same_key_twice_at_once_is_one_refund(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A double tap: both requests get past the key lookup before either commits; on
    PostgreSQL the second one's insert then meets the first's row and answers with it."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay_through_sandbox(client, buyer, number)
    answers = await asyncio.gather(
        *(refund(client, merchant, number, 500, key="tap") for _ in range(2))
    )
    assert [answer.status_code for answer in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert await refunds_of(client, merchant, number) == [(500, "succeeded", "merchant")]
    assert await balances(client, merchant) == held(escrow=2 * PRICE - 500)


async def test_after_receipt_refunds_come_from_pending_with_the_fee(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 2)
    fee = 2 * PRICE * 60 // 10_000  # 118 fen
    assert await balances(client, merchant) == held(pending=2 * PRICE - fee)
    half = await refund(client, merchant, number, PRICE)
    assert half.status_code == 201, half.text
    # Half the order back: half the fee (59 fen) comes back from the platform with it.
    assert await balances(client, merchant) == held(pending=2 * PRICE - fee - (PRICE - fee // 2))
    assert (await refund(client, merchant, number, PRICE)).status_code == 201
    assert await balances(client, merchant) == held()
    assert (await order_row(app, number)).status == "completed"  # received: it stays so


async def test_after_settlement_a_refund_comes_from_available_money(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 2)
    await settled(app)
    fee = 2 * PRICE * 60 // 10_000  # 118 fen
    assert await balances(client, merchant) == held(available=2 * PRICE - fee)
    assert (await refund(client, merchant, number, PRICE)).status_code == 201
    # Half back to the buyer: the shop gives its share, the platform half its fee.
    assert await balances(client, merchant) == held(available=2 * PRICE - fee - (PRICE - fee // 2))
    assert await refunds_of(client, merchant, number) == [(PRICE, "succeeded", "merchant")]


async def test_a_refund_the_available_money_cannot_cover_puts_the_shop_in_debt(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Withdrawn already: the buyer is refunded all the same, the shop owes the rest, no
    withdrawal is made until later sales pay it, and the next settlement pays it first."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 1)
    await settled(app)
    net = PRICE - PRICE * 60 // 10_000  # 9841
    assert (await withdraw(client, merchant, net - 41)).status_code == 201
    await run_jobs(app)  # paid out
    assert await balances(client, merchant) == held(available=41, paid_out=net - 41)
    assert (await refund(client, merchant, number, PRICE)).status_code == 201
    assert await balances(client, merchant) == held(paid_out=net - 41, owed=net - 41)
    assert await refunds_of(client, merchant, number) == [(PRICE, "succeeded", "merchant")]
    api_error(await withdraw(client, merchant, 100), 409, "shop_in_debt")

    second = await received(app, client, merchant, buyer, sku, 2)
    await settled(app)
    gross = 2 * PRICE - 2 * PRICE * 60 // 10_000
    assert await balances(client, merchant) == held(available=gross - (net - 41), paid_out=net - 41)
    assert (await order_row(app, second)).status == "completed"
    assert (await withdraw(client, merchant, 100)).status_code == 201


async def test_a_refund_the_provider_refuses_gives_the_money_back(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay_through_sandbox(client, buyer, number)
    provider = app.state.payments.providers["sandbox"]

    async def refuse(*_args: Any, **_kwargs: Any) -> RefundResult:
        return RefundResult(RefundState.refused, failure="account frozen")

    monkeypatch.setattr(provider, "refund", refuse)
    assert (await refund(client, merchant, number, 700)).status_code == 201
    assert await refunds_of(client, merchant, number) == [(700, "failed", "merchant")]
    assert await balances(client, merchant) == held(escrow=2 * PRICE)
    assert (await order_row(app, number)).status == "paid"
    counts = await money_counts(app)
    assert counts["payment_anomalies"] == 1


async def test_after_shipping_a_whole_refund_closes_without_restocking_what_left(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await pay_through_sandbox(client, buyer, number)
    assert (await ship(client, merchant, number, "SF1234567890123")).status_code == 201
    assert (await refund(client, merchant, number, 2 * PRICE)).status_code == 201
    assert (await order_row(app, number)).status == "closed"
    assert await stock_of(app, sku.id) == 8  # the goods are with the buyer, not on the shelf
