"""Provider notifications: verified before anything is stored, stored before they are acted
on, acted on once however often they come, checked against our books (amount, currency,
merchant, a payment we know) before an order is marked paid."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.db import Database
from pocketshop.ledger import service as ledger
from pocketshop.ledger.models import LedgerTransaction
from pocketshop.payments import sandbox, service
from pocketshop.payments.balances import returning_of
from pocketshop.payments.models import Payment, PaymentAnomaly, ProviderNotice
from tests.commerce import (
    events_to,
    make_buyer,
    one_sku_and_buyer,
    order_row,
    ordered,
    run_jobs,
    stock_of,
)
from tests.conftest import is_postgres
from tests.payments.money import (
    money_counts,
    notification,
    notify,
    press,
    sandbox_trade,
    start_payment,
    trade_no,
)
from tests.support import statements_run


async def paid_at_the_sandbox(app: FastAPI, client: httpx.AsyncClient) -> tuple[str, str]:
    """An order whose buyer paid at the sandbox, its notification not yet delivered (the
    callback is unreachable for that first try)."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    started = await start_payment(client, buyer, number)
    db: Database = app.state.db
    async with db.transaction() as session:
        await sandbox.buyer_acts(session, trade_no(started), pay=True)
    return number, trade_no(started)


async def captures(db: Database) -> int:
    async with db.transaction(write=False) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.kind == "capture")
            )
            or 0
        )


async def test_what_a_notice_writes(app: FastAPI, client: httpx.AsyncClient, db: Database) -> None:
    """The busiest write after placing orders. Kept, a statement committed by itself before
    the answer; then, after it, claimed; the payment read with its order, whose row it locks;
    the payment's and the order's moves, each with its event; the order's escrow account,
    opened with the money in it; the ledger transaction with its postings; the notice's
    outcome; the shop's notification, an outbox row (told after commit); the buyer as the
    shop's customer (a first order: one insert). Ten statements on PostgreSQL, where a row
    and the rows that point at it are one statement (`db.update_with`, `db.insert_new_with`),
    thirteen on SQLite. An order from
    a checkout has no payment request to update."""
    # The third: the sandbox clearing account made by the first, found and kept by the second.
    for _round in range(3):
        number, out_trade_no = await paid_at_the_sandbox(app, client)
        body, headers = notification(app, await sandbox_trade(app, out_trade_no))
        with statements_run(db) as statements:
            answer = await notify(client, body, headers)
        assert answer.status_code == 200, answer.text
    assert (await order_row(app, number)).status == "paid"
    assert not [sql for sql in statements if "payment_requests" in sql], statements
    written = [sql for sql in statements if not sql.startswith("BEGIN")]  # SQLite: by hand
    # What follows the outcome is the outbox's, after the answer: the shop being told.
    outcome = [sql.startswith("UPDATE provider_notices SET outcome") for sql in written]
    written = written[: outcome.index(True) + 1]
    assert len(written) == (10 if is_postgres() else 13), "\n".join(sql[:110] for sql in written)


async def test_the_same_notification_ten_times_at_once_pays_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no))
    answers = await asyncio.gather(*(notify(client, body, headers) for _ in range(10)))
    assert [answer.status_code for answer in answers] == [200] * 10
    assert all(answer.json() == {"code": "SUCCESS", "message": ""} for answer in answers)
    assert (await order_row(app, number)).status == "paid"
    assert await events_to(app, number) == ["pending_payment", "paid"]
    assert await captures(db) == 1
    async with db.transaction(write=False) as session:
        stored = list(await session.scalars(select(ProviderNotice)))
    assert len(stored) == 1
    assert stored[0].outcome == "paid"
    assert stored[0].body == body.decode()  # the raw event, as received


@pytest.mark.parametrize(
    "spoil",
    ["tampered", "bad_signature", "stale", "future", "unknown_serial", "no_signature"],
)
async def test_unverified_notifications_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, spoil: str
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    trade = await sandbox_trade(app, out_trade_no)
    body, headers = notification(app, trade)
    if spoil == "tampered":
        body = body.replace(b'"SUCCESS"', b'"SUCCESS" ', 1)
    elif spoil == "bad_signature":
        headers["Sandbox-Signature"] = headers["Sandbox-Signature"][::-1]
    elif spoil in ("stale", "future"):
        shift = timedelta(minutes=6) * (-1 if spoil == "stale" else 1)
        moment = str(int((clock.now() + shift).timestamp()))
        headers["Sandbox-Timestamp"] = moment
        headers["Sandbox-Signature"] = sandbox.sign(
            app.state.settings, moment, headers["Sandbox-Nonce"], body
        )
    elif spoil == "unknown_serial":
        headers["Sandbox-Serial"] = "SANDBOX-KEY-0"
    else:
        del headers["Sandbox-Signature"]
    before = await money_counts(app)
    answer = await notify(client, body, headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "FAIL"
    assert (await order_row(app, number)).status == "pending_payment"
    assert await money_counts(app) == before
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(ProviderNotice)) == 0


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"amount": {"total": 1, "currency": "CNY"}}, "amount_mismatch"),
        ({"amount": {"total": 19800, "currency": "USD"}}, "amount_mismatch"),
        ({"mchid": "someone-else"}, "merchant_mismatch"),
    ],
)
async def test_notices_that_do_not_match_our_books_are_kept_for_the_operator(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    change: dict[str, object],
    kind: str,
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no), **change)
    answer = await notify(client, body, headers)
    assert answer.status_code == 200, answer.text  # stored: the provider may stop sending it
    assert (await order_row(app, number)).status == "pending_payment"
    assert await captures(db) == 0
    async with db.transaction(write=False) as session:
        anomalies = list(await session.scalars(select(PaymentAnomaly)))
    assert [anomaly.kind for anomaly in anomalies] == [kind]
    assert anomalies[0].notice_id is not None


async def test_a_payment_of_no_order_we_know_is_recorded_and_returned(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    """Signed and for our merchant, but for an out_trade_no we never made: written down as a
    payment of no order, and returned from its own money. The sandbox knows no such trade,
    so it refuses the refund: the money waits, apart, for the operator."""
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no), out_trade_no="f" * 32)
    assert (await notify(client, body, headers)).status_code == 200
    await app.state.dispatch_outbox()
    assert (await order_row(app, number)).status == "pending_payment"
    async with db.transaction(write=False) as session:
        orphan = (await session.scalars(select(Payment).where(Payment.order_id.is_(None)))).one()
        kinds = list(await session.scalars(select(PaymentAnomaly.kind).order_by(PaymentAnomaly.id)))
        held = await ledger.balance(session, returning_of(orphan.id))
    assert (orphan.out_trade_no, orphan.amount, orphan.stray) == ("f" * 32, 19800, True)
    assert kinds == ["unknown_payment", "refund_failed"]
    assert held.amount == 19800


async def test_a_failed_payment_leaves_the_order_payable(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    started = await start_payment(client, buyer, number)
    assert (await press(client, trade_no(started), "fail")).status_code == 303
    payment = await client.post(
        f"/api/v1/payments/{started['payment']['id']}/refresh", headers=buyer.auth
    )
    assert payment.json()["status"] == "failed"
    assert (await order_row(app, number)).status == "pending_payment"
    # Paying again opens a new payment, and this one goes through.
    again = await start_payment(client, buyer, number)
    assert again["payment"]["id"] != started["payment"]["id"]
    assert (await press(client, trade_no(again))).status_code == 303
    assert (await order_row(app, number)).status == "paid"
    assert await captures(db) == 1


async def test_unreachable_callback_is_retried_on_the_schedule(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    runtime = app.state.runtime
    answering = runtime.http

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    runtime.http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    try:
        await runtime.deliver_sandbox_notices()
    finally:
        await runtime.http.aclose()
        runtime.http = answering
    trade = await sandbox_trade(app, out_trade_no)
    assert trade.notify_attempts == 1
    assert trade.notify_at is not None
    # Next try in 15 s (WeChat Pay's first retry), give or take this test's own run time.
    assert timedelta(seconds=14) < trade.notify_at - clock.now() <= timedelta(seconds=15)
    assert (await order_row(app, number)).status == "pending_payment"

    await runtime.deliver_sandbox_notices()  # not due yet
    assert (await order_row(app, number)).status == "pending_payment"
    clock.advance(timedelta(seconds=15))
    await runtime.deliver_sandbox_notices()
    assert (await order_row(app, number)).status == "paid"
    assert (await sandbox_trade(app, out_trade_no)).notify_at is None


async def test_reconciliation_finds_a_payment_whose_notice_never_came(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    number, _trade = await paid_at_the_sandbox(app, client)
    assert await run_jobs(app) == {}
    clock.advance(timedelta(minutes=5))
    assert await run_jobs(app) == {"advance_payments": 1}
    assert (await order_row(app, number)).status == "paid"


async def test_unpaid_timeout_racing_the_payment_has_one_outcome(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    """Twenty orders paid at the very moment they time out: each ends either paid, or closed
    with its late payment refunded; stock is given back exactly for the closed ones."""
    merchant, sku, _buyer = await one_sku_and_buyer(app, stock=100)
    # A buyer each: one may hold only so many unpaid orders in a shop.
    buyers = [await make_buyer(app) for _ in range(20)]
    numbers, trades = [], []
    for buyer in buyers:
        number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
        started = await start_payment(client, buyer, number)
        async with db.transaction() as session:
            await sandbox.buyer_acts(session, trade_no(started), pay=True)
        numbers.append(number)
        trades.append(await sandbox_trade(app, trade_no(started)))
    clock.advance(timedelta(minutes=31))
    signed = [notification(app, trade) for trade in trades]
    await asyncio.gather(
        run_jobs(app), *(notify(client, body, headers) for body, headers in signed)
    )
    await run_jobs(app)  # whatever the race left (refunds after commit, stragglers)
    await app.state.dispatch_outbox()
    statuses = [(await order_row(app, number)).status for number in numbers]
    closed = statuses.count("closed")
    assert set(statuses) <= {"paid", "closed"}
    assert await stock_of(app, sku.id) == 100 - 20 + closed
    refunds = await client.get("/api/v1/me/shop/finance", headers=merchant.auth)
    assert refunds.status_code == 200
    for buyer, number, status in zip(buyers, numbers, statuses, strict=True):
        receipt = await client.get(f"/api/v1/orders/{number}/receipt", headers=buyer.auth)
        refunded = receipt.json()["refunded"]
        total = receipt.json()["payment"]["amount"]
        assert refunded == (total if status == "closed" else 0), (number, status)


async def test_a_notice_whose_acting_fails_is_kept_and_acted_on_by_the_job(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no))

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the order's row could not be read")

    monkeypatch.setattr(service.orders, "mark_paid", broken)
    answer = await notify(client, body, headers)
    assert answer.status_code == 200  # stored: the provider need not send it again
    assert (await order_row(app, number)).status == "pending_payment"
    assert await captures(db) == 0  # nothing of the failed half is kept
    async with db.transaction(write=False) as session:
        stored = await session.scalar(select(ProviderNotice))
    assert stored is not None
    assert stored.processed_at is None
    assert stored.outcome == ""

    monkeypatch.undo()
    assert await run_jobs(app) == {}  # not yet: acting may still be under way elsewhere
    clock.advance(timedelta(minutes=2))
    assert (await run_jobs(app))["process_stored_notices"] == 1
    assert (await order_row(app, number)).status == "paid"
    assert await captures(db) == 1
    async with db.transaction(write=False) as session:
        stored = await session.scalar(select(ProviderNotice))
    assert stored is not None
    assert stored.processed_at is not None
    assert stored.outcome == "paid"
