"""Withdrawals: only available money, at least the minimum, one at a time; twenty at once of
the whole balance make one; a payout the bank refuses brings the money back."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.commerce import Merchant, one_sku_and_buyer
from tests.payments.money import balances, held, money_counts, received, settled, withdraw
from tests.support import api_error

PRICE = 9900
NET = PRICE - PRICE * 60 // 10_000  # one unit, settled: ¥98.41


async def shop_with_money(app: FastAPI, client: httpx.AsyncClient) -> Merchant:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    await received(app, client, merchant, buyer, sku, 1)
    await settled(app)
    assert await balances(client, merchant) == held(available=NET)
    return merchant


async def test_twenty_withdrawals_of_everything_at_once_make_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await shop_with_money(app, client)
    answers = await asyncio.gather(*(withdraw(client, merchant, NET) for _ in range(20)))
    made = [answer for answer in answers if answer.status_code == 201]
    assert len(made) == 1
    for answer in answers:
        if answer.status_code != 201:
            assert answer.status_code in (409, 422), answer.text
            assert answer.json()["error"]["code"] in ("withdrawal_in_flight", "insufficient_funds")
    assert await balances(client, merchant) == held(paid_out=NET)


@pytest.mark.parametrize(
    ("amount", "code"),
    [(99, "invalid_amount"), (NET + 1, "insufficient_funds"), (0, None), (-5, None), (1.5, None)],
)
async def test_refused_amounts_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, amount: Any, code: str | None
) -> None:
    merchant = await shop_with_money(app, client)
    before = await money_counts(app)
    answer = await withdraw(client, merchant, amount)
    assert answer.status_code == 422, answer.text
    if code:
        assert answer.json()["error"]["code"] == code
    assert await money_counts(app) == before
    assert await balances(client, merchant) == held(available=NET)
    listed = await client.get("/api/v1/me/shop/withdrawals", headers=merchant.auth)
    assert listed.json() == []


async def test_a_payout_the_bank_refuses_brings_the_money_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await shop_with_money(app, client)
    answer = await withdraw(client, merchant, 1044)  # the sandbox bank refuses fen ending in 44
    assert answer.status_code == 201, answer.text
    failed = await client.get(
        f"/api/v1/me/shop/withdrawals/{answer.json()['id']}", headers=merchant.auth
    )
    assert failed.json()["status"] == "failed"
    assert failed.json()["failure"]
    assert await balances(client, merchant) == held(available=NET)
    # And the next one goes through.
    assert (await withdraw(client, merchant, 1000)).status_code == 201
    assert await balances(client, merchant) == held(available=NET - 1000, paid_out=1000)


async def test_the_same_key_is_the_same_withdrawal(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await shop_with_money(app, client)
    first, second = [await withdraw(client, merchant, 2000, key="w-1") for _ in range(2)]
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    api_error(await withdraw(client, merchant, 3000, key="w-1"), 422, "idempotency_key_reused")
    assert await balances(client, merchant) == held(available=NET - 2000, paid_out=2000)


async def test_nothing_available_before_settlement(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    await received(app, client, merchant, buyer, sku, 1)
    api_error(await withdraw(client, merchant, 1000), 422, "insufficient_funds")
    assert await balances(client, merchant) == held(pending=NET)
