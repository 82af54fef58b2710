"""Withdrawals: only available money, at least the minimum, one at a time; twenty at once of
the whole balance make one; a payout the bank refuses brings the money back."""

import asyncio
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pocketshop import cli
from pocketshop.db import Database
from pocketshop.payments.withdrawals import make_payouts
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
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["code"] in ("withdrawal_in_flight", "insufficient_funds")
    assert await balances(client, merchant) == held(paid_out=NET)


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        (99, 422, "invalid_amount"),
        (NET + 1, 409, "insufficient_funds"),
        (0, 422, None),
        (-5, 422, None),
        (1.5, 422, None),
    ],
)
async def test_refused_amounts_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, amount: Any, status: int, code: str | None
) -> None:
    merchant = await shop_with_money(app, client)
    before = await money_counts(app)
    answer = await withdraw(client, merchant, amount)
    assert answer.status_code == status, answer.text
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
    api_error(await withdraw(client, merchant, 1000), 409, "insufficient_funds")
    assert await balances(client, merchant) == held(pending=NET)


async def test_an_operator_pays_withdrawals_by_hand_and_records_them(
    client: httpx.AsyncClient,
    db: Database,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The manual backend: the withdrawal waits, listed for the operator, until recorded as
    paid (with the bank's reference) or failed (the money back); recorded once."""
    by_hand = make_payouts("manual")
    for call in ("pay", "query"):
        monkeypatch.setattr(app.state.payments.payouts, call, getattr(by_hand, call))
    merchant = await shop_with_money(app, client)
    assert (await withdraw(client, merchant, 5000)).status_code == 201
    await app.state.dispatch_outbox()
    listed = await client.get("/api/v1/me/shop/withdrawals", headers=merchant.auth)
    public_id = listed.json()[0]["id"]
    assert listed.json()[0]["status"] == "requested"
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("POCKETSHOP_DATA_KEY", app.state.settings.data_key)  # to read the card

    async def command(*args: str) -> int:
        code: int = await asyncio.to_thread(cli.main, ["payouts", *args])
        return code

    assert await command("list", "--show-numbers") == 0
    printed = capsys.readouterr().out
    assert public_id in printed
    assert "¥50.00" in printed
    assert re.search(r" \d{16,19} ", printed)  # the full card number, to pay it by hand
    assert await command("paid", public_id, "--reference", "ICBC2026120300123") == 0
    assert await command("paid", public_id, "--reference", "again") == 1
    assert "这笔提现已处理完毕" in capsys.readouterr().err  # the site's language
    assert await balances(client, merchant) == held(available=NET - 5000, paid_out=5000)

    assert (await withdraw(client, merchant, 1000)).status_code == 201
    await app.state.dispatch_outbox()
    second = (await client.get("/api/v1/me/shop/withdrawals", headers=merchant.auth)).json()[0]
    assert await command("failed", second["id"], "--why", "户名不符") == 0
    assert await balances(client, merchant) == held(available=NET - 5000, paid_out=5000)
