"""The money path's findings, each shown: a payment that pays no order is returned from its
own money (never the shop's), in every state of its order; money a refused refund brings
back after release reaches the shop; refunds, payouts and stored notices are driven to a
final state, and past the retry cap shown to the operator; a payment our order no longer
waits for is closed at the provider, and asked about until it is; no provider is called,
and no transaction nests, inside a transaction; confirming receipt releases the money
whatever builds the database; no per-database branch outside db.py."""

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

import pocketshop
from pocketshop import cli, clock
from pocketshop.db import Database, outside_transaction
from pocketshop.orders import actions
from pocketshop.payments import retries, sandbox, service
from pocketshop.payments.models import Payment, PaymentAnomaly, ProviderNotice, Refund
from pocketshop.payments.providers import ProviderError, RefundResult, RefundState
from pocketshop.payments.withdrawals import PayoutError, PayoutResult, PayoutState
from tests.commerce import Buyer, Merchant, one_sku_and_buyer, order_row, ordered, run_jobs
from tests.payments.invariants import problems
from tests.payments.money import (
    balances,
    held,
    notification,
    notify,
    press,
    received,
    sandbox_trade,
    settled,
    start_payment,
    trade_no,
    withdraw,
)

PRICE = 9900
NET = PRICE - PRICE * 60 // 10_000  # 9841: the shop's share of one unit


async def _payment_id(app: FastAPI, out_trade_no: str) -> int:
    async with app.state.db.transaction(write=False) as session:
        found = await session.scalar(select(Payment.id).where(Payment.out_trade_no == out_trade_no))
    assert found is not None
    return found


async def returns_of(db: Database) -> list[tuple[int, str, str]]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(Refund.amount, Refund.status, Refund.reason).where(Refund.source == "return")
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.mark.parametrize("when", ["received", "settled", "withdrawn"])
async def test_a_second_payment_goes_back_from_its_own_money(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    """A second payment of an order, its notice held up until the order's money went to the
    shop (pending, available, even withdrawn): it is returned out of its own money, and the
    shop's balances do not move."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    second = await start_payment(client, buyer, number)
    second_id = await _payment_id(app, trade_no(second))
    async with db.transaction() as session:  # a payment of its own, not reused next
        payment = await session.get_one(Payment, second_id)
        payment.channel = "later"
    async with db.transaction() as session:
        await sandbox.buyer_acts(session, trade_no(second), pay=True)  # its notice held up
    provider = app.state.payments.providers["sandbox"]

    async def unreachable(*_args: Any) -> Any:
        raise ProviderError("connect timeout")

    monkeypatch.setattr(provider, "query", unreachable)
    await _pay(client, buyer, number)
    await _ship_and_confirm(client, merchant, buyer, number)
    if when in ("settled", "withdrawn"):
        await settled(app)
    if when == "withdrawn":
        assert (await withdraw(client, merchant, NET)).status_code == 201
        await app.state.dispatch_outbox()
    before = await balances(client, merchant)
    body, headers = notification(app, await sandbox_trade(app, trade_no(second)))
    assert (await notify(client, body, headers)).status_code == 200
    assert await balances(client, merchant) == before
    assert await returns_of(db) == [(PRICE, "succeeded", "paid_twice")]
    assert await problems(db) == []
    assert (await order_row(app, number)).status == "completed"


async def _ship_and_confirm(
    client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer, number: str
) -> None:
    shipped = await client.post(
        f"/api/v1/me/shop/orders/{number}/shipments",
        json={"carrier": "SF", "tracking_number": "SF1234567890123"},
        headers=merchant.auth,
    )
    assert shipped.status_code == 201, shipped.text
    done = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
    assert done.status_code == 200, done.text


async def test_money_a_refused_refund_brings_back_after_release_goes_to_the_shop(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refunded from escrow, then received, then the provider refuses the refund: the money
    is released with the rest, not stranded in the escrow of a finished order."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    started = await start_payment(client, buyer, number)
    assert (await press(client, trade_no(started))).status_code == 303
    provider = app.state.payments.providers["sandbox"]
    refused: list[RefundResult] = []

    async def later_refused(*_args: Any) -> RefundResult:
        answer = RefundResult(RefundState.refused, failure="account frozen")
        refused.append(answer)
        return answer

    async def not_yet(*_args: Any) -> RefundResult:
        return RefundResult(RefundState.processing)

    monkeypatch.setattr(provider, "refund", not_yet)
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds",
        json={"amount": 700, "reason": "破损"},
        headers=merchant.auth,
    )
    assert asked.status_code == 201, asked.text
    await _ship_and_confirm(client, merchant, buyer, number)
    monkeypatch.setattr(provider, "query_refund", later_refused)
    clock.advance(timedelta(minutes=2))
    assert (await run_jobs(app)).get("advance_refunds") == 1
    assert refused
    fee = 2 * PRICE * 60 // 10_000
    assert await balances(client, merchant) == held(pending=2 * PRICE - fee)
    assert await problems(db) == []


async def test_a_refund_the_provider_cannot_be_reached_for_is_retried_then_told(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Never a silent give-up: the refund is tried again with back-off; at the cap the
    operator sees it (CLI and the shop's money page); it goes on being asked daily, and
    finishes when the provider answers."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await _pay(client, buyer, number)
    provider = app.state.payments.providers["sandbox"]
    real = provider.refund

    async def unreachable(*_args: Any) -> RefundResult:
        raise ProviderError("connect timeout")

    monkeypatch.setattr(provider, "refund", unreachable)
    monkeypatch.setattr(provider, "query_refund", unreachable)
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds",
        json={"amount": PRICE, "reason": "缺货"},
        headers=merchant.auth,
    )
    assert asked.status_code == 201
    tries = 0
    for _ in range(retries.CAP + 2):
        clock.advance(timedelta(hours=5))
        tries += (await run_jobs(app)).get("advance_refunds", 0) >= 0
    async with db.transaction(write=False) as session:
        refund = (await session.scalars(select(Refund))).one()
        kinds = list(await session.scalars(select(PaymentAnomaly.kind)))
    assert (refund.status, kinds) == ("unknown", ["refund_overdue"])
    assert refund.attempts >= retries.CAP
    assert refund.query_after is not None
    page = await _finance_page(app, client, merchant)
    assert "Needs attention" in page or "需要留意" in page
    monkeypatch.setenv("DATABASE_URL", db.url)
    assert await asyncio.to_thread(cli.main, ["payments", "anomalies"]) == 0
    assert "refund_overdue (open)" in capsys.readouterr().out

    monkeypatch.setattr(provider, "refund", real)
    monkeypatch.setattr(provider, "query_refund", type(provider).query_refund.__get__(provider))
    clock.advance(timedelta(days=1))
    await run_jobs(app)  # asked again: not found there, so sent, same number
    assert await _refund_status(db) == "succeeded"
    assert await problems(db) == []


async def _finance_page(app: FastAPI, client: httpx.AsyncClient, merchant: Merchant) -> str:
    from tests.support import page_login

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await page_login(browser, app, merchant.user.phone, next_url="/console/finance")
        return (await browser.get("/console/finance")).text


async def _pay(client: httpx.AsyncClient, buyer: Buyer, number: str) -> None:
    started = await start_payment(client, buyer, number)
    assert (await press(client, trade_no(started))).status_code == 303


async def _refund_status(db: Database) -> str:
    async with db.transaction(write=False) as session:
        return (await session.scalars(select(Refund.status))).one()


async def test_a_payout_whose_answer_was_lost_is_asked_and_a_failed_one_frees_the_slot(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    await received(app, client, merchant, buyer, sku, 1)
    await settled(app)
    payouts = app.state.payments.payouts
    answers = iter(
        [PayoutError("read timeout"), PayoutResult(PayoutState.failed, failure="card closed")]
    )

    async def bank(*_args: Any) -> PayoutResult:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(payouts, "pay", bank)
    monkeypatch.setattr(payouts, "query", bank)
    assert (await withdraw(client, merchant, 5000)).status_code == 201
    await app.state.dispatch_outbox()
    listed = await client.get("/api/v1/me/shop/withdrawals", headers=merchant.auth)
    assert listed.json()[0]["status"] == "unknown"
    api_error_code = (await withdraw(client, merchant, 1000)).json()["error"]["code"]
    assert api_error_code == "withdrawal_in_flight"
    clock.advance(timedelta(minutes=2))
    assert (await run_jobs(app)).get("advance_withdrawals") == 1
    assert await balances(client, merchant) == held(available=NET)
    assert (await withdraw(client, merchant, 1000)).status_code == 201  # the slot is free
    assert await problems(db) == []


async def test_a_stored_notice_that_keeps_failing_is_told_and_tried_daily(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    started = await start_payment(client, buyer, number)
    async with db.transaction() as session:
        await sandbox.buyer_acts(session, trade_no(started), pay=True)
    body, headers = notification(app, await sandbox_trade(app, trade_no(started)))

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the ledger could not be read")

    monkeypatch.setattr(service.escrow, "capture", broken)
    assert (await notify(client, body, headers)).status_code == 200
    for _ in range(retries.CAP + 1):
        clock.advance(timedelta(hours=5))
        await run_jobs(app)
    async with db.transaction(write=False) as session:
        notice = (await session.scalars(select(ProviderNotice))).one()
        kinds = list(await session.scalars(select(PaymentAnomaly.kind)))
    assert notice.processed_at is None
    assert notice.attempts >= retries.CAP
    # The query of the payment failed as often: both are told, once each.
    assert sorted(kinds) == ["notice_overdue", "payment_overdue"]
    monkeypatch.undo()
    clock.advance(timedelta(days=1))
    await run_jobs(app)
    await app.state.dispatch_outbox()
    # Paid after the order timed out: captured, and returned to the buyer.
    assert await returns_of(db) == [(PRICE, "succeeded", "late_payment")]
    assert await problems(db) == []


async def test_a_payment_the_order_no_longer_waits_for_is_closed_at_the_provider(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    """The order paid by one payment: its other open payment is asked about, closed at the
    provider, and no longer polled. The order closed unpaid: its payment too; and one the
    buyer paid in the meantime is captured and returned, not lost."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    abandoned = await start_payment(client, buyer, number)
    abandoned_id = await _payment_id(app, trade_no(abandoned))
    async with db.transaction() as session:
        payment = await session.get_one(Payment, abandoned_id)
        payment.channel = "abandoned"
    await _pay(client, buyer, number)
    clock.advance(timedelta(minutes=6))
    await run_jobs(app)
    async with db.transaction(write=False) as session:
        left = await session.get_one(Payment, abandoned_id)
    assert (left.status, left.query_after) == ("closed", None)
    assert (await sandbox_trade(app, trade_no(abandoned))).state == "CLOSED"

    second = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    late = await start_payment(client, buyer, second)
    async with db.transaction() as session:
        await sandbox.buyer_acts(session, trade_no(late), pay=True)  # its notice is lost
    clock.advance(timedelta(minutes=31))
    await run_jobs(app)  # closes the order
    await app.state.dispatch_outbox()  # its payment asked about, found paid: returned
    await app.state.dispatch_outbox()  # the return sent
    assert (await order_row(app, second)).status == "closed"
    assert await returns_of(db) == [(PRICE, "succeeded", "late_payment")]
    assert await problems(db) == []


async def test_no_provider_is_called_inside_a_transaction(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call to the provider while paying, coming back, refunding and closing is made
    with no transaction open (a row lock, or SQLite's write lock, would be held while the
    provider takes its time)."""
    provider = app.state.payments.providers["sandbox"]
    called: list[str] = []
    for name in ("prepay", "query", "close", "refund", "query_refund"):
        real = getattr(provider, name)

        def probe(real: Any = real, name: str = name) -> Any:
            async def call(*args: Any) -> Any:
                outside_transaction(f"sandbox {name}")
                called.append(name)
                return await real(*args)

            return call

        monkeypatch.setattr(provider, name, probe())
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    started = await start_payment(client, buyer, number)
    refreshed = await client.post(
        f"/api/v1/payments/{started['payment']['id']}/refresh", headers=buyer.auth
    )
    assert refreshed.status_code == 200, refreshed.text
    assert (await press(client, trade_no(started))).status_code == 303
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 100}, headers=merchant.auth
    )
    assert asked.status_code == 201
    await app.state.dispatch_outbox()
    other = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await start_payment(client, buyer, other)
    cancelled = await client.post(f"/api/v1/orders/{other}/cancel", headers=buyer.auth)
    assert cancelled.status_code == 200
    await app.state.dispatch_outbox()
    assert set(called) >= {"prepay", "query", "close", "refund"}


async def test_confirming_receipt_releases_the_money_whatever_builds_the_database(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """No hook: a Database made on its own (not by the runtime) releases the money too."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await _pay(client, buyer, number)
    shipped = await client.post(
        f"/api/v1/me/shop/orders/{number}/shipments",
        json={"carrier": "SF", "tracking_number": "SF1234567890123"},
        headers=merchant.auth,
    )
    assert shipped.status_code == 201
    bare = Database(app.state.settings.database_url)
    try:
        async with bare.transaction() as session:
            await actions.confirm_receipt(session, app.state.settings, buyer.user, number)
    finally:
        await bare.dispose()
    assert await balances(client, merchant) == held(pending=NET)


def test_only_db_py_speaks_to_one_database_or_the_other() -> None:
    """One code path for both databases: dialect-specific SQL lives in db.py's named helpers
    (and the page cache's NOTIFY, a PostgreSQL feature it does without on SQLite)."""
    source = Path(pocketshop.__file__).parent
    allowed = {source / "db.py", source / "cache.py"}
    speaking = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if path not in allowed
        and "migrations" not in path.parts
        and re.search(r"dialect|dialects import postgresql", path.read_text())
    ]
    assert speaking == []


async def test_refunds_stay_open_until_the_window_closes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 1)
    clock.advance(timedelta(days=7) - timedelta(minutes=1))
    await run_jobs(app)
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 100}, headers=merchant.auth
    )
    assert asked.status_code == 201, asked.text
    clock.advance(timedelta(minutes=2))
    late = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 100}, headers=merchant.auth
    )
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "aftersales_closed"
