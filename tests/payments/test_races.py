"""Races on one order's money that can fail: on PostgreSQL, every request and job step runs on
a connection of its own (the app's pool) at the same moment, 25 pairs at once. After each run
the ledger and every order's money add up, what each client was told matches what is stored,
and each of the competing outcomes occurred (so both orders of events were tried). On SQLite
the embedded server runs writers one at a time: these would prove nothing there."""

from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock, jobs
from pocketshop.db import Database
from pocketshop.orders import actions
from pocketshop.orders.models import Order
from pocketshop.payments import notices, sandbox
from pocketshop.payments.models import Payment, Refund, Withdrawal
from tests.commerce import (
    Buyer,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    ordered,
    ship,
)
from tests.conftest import is_postgres
from tests.payments.invariants import problems
from tests.payments.money import (
    notification,
    notify,
    pay_through_sandbox,
    sandbox_trade,
    second_payment,
    settled,
    start_payment,
    trade_no,
    withdraw,
)
from tests.races import race
from tests.support import csrf_for, other_client, page_login

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="SQLite runs writers one at a time: no race to show"
)
PAIRS = 25
PRICE = 9900


async def shop_selling(app: FastAPI) -> tuple[Merchant, Any]:
    merchant = await make_merchant(app)
    return merchant, (await make_product(app, merchant.shop, price=PRICE, stock=1000)).skus[0]


async def shipped_orders(
    app: FastAPI, client: httpx.AsyncClient, count: int = PAIRS
) -> tuple[Merchant, Buyer, list[str]]:
    merchant, sku = await shop_selling(app)
    buyer = await make_buyer(app)
    numbers = []
    for _ in range(count):
        number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
        await pay_through_sandbox(client, buyer, number)
        assert (await ship(client, merchant, number, "SF1234567890123")).status_code == 201
        numbers.append(number)
    return merchant, buyer, numbers


def refund(client: httpx.AsyncClient, merchant: Merchant, number: str, amount: int) -> Any:
    return client.post(
        f"/api/v1/me/shop/orders/{number}/refunds",
        json={"amount": amount, "reason": "race"},
        headers=merchant.auth,
    )


async def refund_sources(db: Database) -> Counter[str]:
    async with db.transaction(write=False) as session:
        return Counter(await session.scalars(select(Refund.source)))


async def statuses(db: Database, numbers: list[str]) -> dict[str, str]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(Order.number, Order.status).where(Order.number.in_(numbers))
        )
        return {number: status for number, status in rows}


async def settle_everything(app: FastAPI) -> None:
    """Whatever the race left queued (refunds to send) sent, so the books are final."""
    await app.state.dispatch_outbox()
    clock.advance(timedelta(minutes=5))
    await jobs.run_due(app.state.db, app.state.runtime.sweeps)


async def test_confirm_racing_a_refund(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The buyer confirms receipt on the order page while the shop refunds ¥1 through the
    API (the race that once corrupted the ledger): both succeed, in either order (the
    refund comes from escrow before the release, from pending money after)."""
    merchant, buyer, numbers = await shipped_orders(app, client)
    async with other_client(app) as browser:
        signed_in = await page_login(browser, app, buyer.user.phone, next_url="/me/orders")
        assert signed_in.status_code == 303, signed_in.text
        token = await csrf_for(browser, f"/me/orders/{numbers[0]}")
        told = await race(
            [
                (
                    browser.post(f"/me/orders/{number}/confirm", data={"csrf_token": token}),
                    refund(client, merchant, number, 100),
                )
                for number in numbers
            ]
        )
    for confirmed, refunded in told:
        assert confirmed.status_code == 303, confirmed.text
        assert refunded.status_code == 201, refunded.text
    await settle_everything(app)
    db: Database = app.state.db
    assert await problems(db) == []
    assert set((await statuses(db, numbers)).values()) == {"completed"}
    sources = await refund_sources(db)
    assert sources["escrow"] + sources["pending"] == PAIRS
    assert min(sources["escrow"], sources["pending"]) > 0, sources  # both orders occurred


async def test_auto_confirm_racing_a_refund(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, _buyer, numbers = await shipped_orders(app, client)
    clock.advance(timedelta(days=10, minutes=1))
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        ids = dict((await session.execute(select(Order.number, Order.id))).all())

    async def auto_confirm(order_id: int) -> bool:
        async with db.transaction() as session:
            return await actions.auto_confirm(session, app.state.settings, order_id)

    told = await race(
        [(auto_confirm(ids[number]), refund(client, merchant, number, 100)) for number in numbers]
    )
    for confirmed, refunded in told:
        assert confirmed is True
        assert refunded.status_code == 201, refunded.text
    await settle_everything(app)
    assert await problems(db) == []
    sources = await refund_sources(db)
    assert min(sources["escrow"], sources["pending"]) > 0, sources


async def test_two_refunds_of_the_same_money(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Two refunds of 60% each: one is booked, the other refused, never both."""
    merchant, _buyer, numbers = await shipped_orders(app, client)
    told = await race(
        [
            (refund(client, merchant, number, 5900), refund(client, merchant, number, 6000))
            for number in numbers
        ]
    )
    winners: Counter[int] = Counter()
    for first, second in told:
        assert sorted([first.status_code, second.status_code]) == [201, 409]
        loser = second if first.status_code == 201 else first
        assert loser.json()["error"]["code"] == "refund_too_large"
        winners[5900 if first.status_code == 201 else 6000] += 1
    await settle_everything(app)
    db: Database = app.state.db
    assert await problems(db) == []
    async with db.transaction(write=False) as session:
        assert len(list(await session.scalars(select(Refund.id)))) == PAIRS
    assert min(winners[5900], winners[6000]) > 0, winners


async def test_settlement_racing_a_refund(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The day after receipt: the settlement runs while the shop refunds. Before it, the
    refund comes from pending money; after it, from available money."""
    merchant, buyer, numbers = await shipped_orders(app, client)
    for number in numbers:
        done = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
        assert done.status_code == 200, done.text
    clock.advance(timedelta(days=1))
    db: Database = app.state.db
    settle = next(sweep for sweep in app.state.runtime.sweeps if sweep.name == "settle_releases")
    async with db.transaction(write=False) as session:
        due = await settle.due(session, clock.now(), 1000)

    async def settle_one(settlement_id: int) -> bool:
        async with db.transaction() as session:
            return bool(await settle.step(session, settlement_id))

    told = await race(
        [
            (settle_one(settlement_id), refund(client, merchant, number, 3000))
            for settlement_id, number in zip(sorted(due), numbers, strict=True)
        ]
    )
    for settled_now, refunded in told:
        assert settled_now is True
        assert refunded.status_code == 201, refunded.text
    await settle_everything(app)
    assert await problems(db) == []
    sources = await refund_sources(db)
    assert min(sources["pending"], sources["available"]) > 0, sources


async def test_two_withdrawals_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Each of 25 shops asks twice at once for 60% of what it has: one withdrawal is made."""
    merchants = []
    for _ in range(PAIRS):
        merchant, sku = await shop_selling(app)
        buyer = await make_buyer(app)
        number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
        await pay_through_sandbox(client, buyer, number)
        assert (await ship(client, merchant, number, "SF1234567890123")).status_code == 201
        done = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
        assert done.status_code == 200
        merchants.append(merchant)
    await settled(app)
    told = await race([(withdraw(client, m, 5900), withdraw(client, m, 5800)) for m in merchants])
    winners: Counter[int] = Counter()
    for first, second in told:
        codes = sorted([first.status_code, second.status_code])
        assert codes in ([201, 409], [201, 422]), (first.text, second.text)
        winners[5900 if first.status_code == 201 else 5800] += 1
    await settle_everything(app)
    db: Database = app.state.db
    assert await problems(db) == []
    async with db.transaction(write=False) as session:
        made = Counter(await session.scalars(select(Withdrawal.shop_id)))
    assert set(made.values()) == {1}
    assert min(winners[5900], winners[5800]) > 0, winners


async def test_a_payment_notice_racing_the_unpaid_timeout(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Paid at the very moment the order times out: paid, or closed with the late payment
    returned from its own money; both happen."""
    merchant, sku = await shop_selling(app)
    db: Database = app.state.db
    numbers, trades = [], []
    for _ in range(PAIRS):
        buyer = await make_buyer(app)
        number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
        started = await start_payment(client, buyer, number)
        async with db.transaction() as session:
            await sandbox.buyer_acts(session, trade_no(started), pay=True)
        numbers.append(number)
        trades.append(await sandbox_trade(app, trade_no(started)))
    clock.advance(timedelta(minutes=31))
    # Each notice kept and answered, as the callback does; then acted on, racing the timeout.
    providers = app.state.payments.providers
    kept = []
    for trade in trades:
        body, headers = notification(app, trade)
        notice = await providers["sandbox"].parse_notice(httpx.Headers(headers), body)
        kept.append(await notices.keep(db, "sandbox", notice, b"{}"))
    async with db.transaction(write=False) as session:
        ids = dict((await session.execute(select(Order.number, Order.id))).all())

    async def close(order_id: int) -> bool:
        async with db.transaction() as session:
            return await actions.close_unpaid(session, app.state.settings, order_id)

    told = await race(
        [
            (close(ids[number]), notices.act_on(db, app.state.settings, providers, notice_id))
            for number, notice_id in zip(numbers, kept, strict=True)
        ]
    )
    now = await statuses(db, numbers)
    for number, (closed, acted) in zip(numbers, told, strict=True):
        assert acted.outcome in ("paid", "returned"), acted
        assert closed is (now[number] == "closed")
    await settle_everything(app)
    assert await problems(db) == []
    outcome = Counter(now.values())
    assert min(outcome["paid"], outcome["closed"]) > 0, outcome
    assert (await refund_sources(db))["return"] == outcome["closed"]


async def test_two_payments_of_one_order_notified_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An order paid twice, by two payments whose notices arrive together: one pays the
    order, the other goes back to the buyer; either may be first."""
    merchant, sku = await shop_selling(app)
    db: Database = app.state.db
    pairs: list[tuple[tuple[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]] = []
    firsts = {}
    for _ in range(PAIRS):
        buyer = await make_buyer(app)
        number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
        started = await start_payment(client, buyer, number)
        made = await second_payment(app, (await order_row(app, number)).id)
        assert made is not None
        second = made.out_trade_no
        signed = []
        for out_trade_no in (trade_no(started), second):
            async with db.transaction() as session:
                await sandbox.buyer_acts(session, out_trade_no, pay=True)
            signed.append(notification(app, await sandbox_trade(app, out_trade_no)))
        firsts[number] = trade_no(started)
        pairs.append((signed[0], signed[1]))
    told = await race([(notify(client, *a), notify(client, *b)) for a, b in pairs])
    for first, second in told:
        assert (first.status_code, second.status_code) == (200, 200)
    await settle_everything(app)
    assert await problems(db) == []
    async with db.transaction(write=False) as session:
        paying = list(
            await session.execute(
                select(Order.number, Payment.out_trade_no)
                .join(Payment, Payment.order_id == Order.id)
                .where(Payment.stray.is_(False), Payment.status.in_(["paid", "refunded"]))
            )
        )
    assert len(paying) == PAIRS
    won_first = sum(out_trade_no == firsts[number] for number, out_trade_no in paying)
    assert 0 < won_first < PAIRS, won_first
    assert (await refund_sources(db))["return"] == PAIRS
