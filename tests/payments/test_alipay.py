"""The Alipay adapter (`python-alipay-sdk`, RSA2) against a local fake of Alipay's gateway
with keys made in the test: WAP and page pay, notifications verified and acted on once (late
ones and resends too), forged ones refused, ones for another app or seller kept for the
operator, queries, refunds and closes signed both ways."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.ledger.models import LedgerTransaction
from pocketshop.payments.models import Payment, PaymentAnomaly, ProviderNotice
from tests.commerce import one_sku_and_buyer, order_row, ordered, run_jobs
from tests.payments.fake_alipay import FakeAlipay, Trade
from tests.payments.money import money_counts, pay_through_sandbox
from tests.servers import serving

NOTIFY = "/api/v1/payments/alipay/notify"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def fake() -> FakeAlipay:
    return FakeAlipay()


@pytest.fixture(scope="module")
def gateway(fake: FakeAlipay) -> Any:
    with serving(lambda _url: fake.app(), probe="/gateway.do") as (url, _app):
        yield url


@pytest.fixture
def settings(settings: Settings, fake: FakeAlipay, gateway: str) -> Settings:
    return settings.model_copy(
        update={
            "public_base_url": "http://testserver",
            "payment_providers": ["alipay", "sandbox"],
            **fake.settings(gateway),
        }
    )


async def opened_trade(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeAlipay, channel: str = "wap"
) -> tuple[Any, Any, str, Trade]:
    """An unpaid order, its Alipay payment started, and the buyer sent to Alipay's page."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    started = await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "alipay", "channel": channel},
        headers=buyer.auth,
    )
    assert started.status_code == 201, started.text
    async with httpx.AsyncClient() as browser:  # the buyer's browser, at Alipay
        shown = await browser.get(started.json()["next"]["redirect_url"])
    assert "收银台" in shown.text
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        out_trade_no = await session.scalar(
            select(Payment.out_trade_no).where(Payment.public_id == started.json()["payment"]["id"])
        )
    assert out_trade_no is not None
    return merchant, buyer, number, fake.trades[out_trade_no]


async def test_wap_and_page_pay_send_the_buyer_to_a_signed_alipay_page(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeAlipay
) -> None:
    _merchant, _buyer, _number, wap = await opened_trade(app, client, fake, "wap")
    _merchant, _buyer, _number, page = await opened_trade(app, client, fake, "page")
    assert wap.amount == page.amount == 2 * 9900
    assert "alipay.trade.wap.pay" in fake.methods
    assert "alipay.trade.page.pay" in fake.methods


async def test_a_notification_is_verified_and_acted_on_once(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeAlipay
) -> None:
    _merchant, _buyer, number, trade = await opened_trade(app, client, fake)
    body = fake.notification(fake.pay(trade.out_trade_no))
    for _ in range(3):
        answer = await client.post(NOTIFY, content=body, headers=FORM)
        assert (answer.status_code, answer.text) == (200, "success")
    assert (await order_row(app, number)).status == "paid"


@pytest.mark.parametrize("forgery", ["tampered", "no_sign", "other_key"])
async def test_forged_notifications_are_refused(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay, forgery: str
) -> None:
    _merchant, _buyer, number, trade = await opened_trade(app, client, fake)
    paid = fake.pay(trade.out_trade_no)
    body = fake.notification(paid)
    if forgery == "tampered":
        body = body.replace(b"total_amount=198.00", b"total_amount=1.98")
    elif forgery == "no_sign":
        body = b"&".join(part for part in body.split(b"&") if not part.startswith(b"sign="))
    elif forgery == "other_key":
        body = FakeAlipay(app_key=fake.app_key).notification(paid)
    before = await money_counts(app)
    answer = await client.post(NOTIFY, content=body, headers=FORM)
    assert (answer.status_code, answer.text) == (401, "fail")
    assert (await order_row(app, number)).status == "pending_payment"
    assert await money_counts(app) == before
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(ProviderNotice)) == 0


async def test_a_late_notification_is_acted_on_and_its_resends_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay
) -> None:
    """Alipay sends a notice until it is answered "success", for about 25 hours, with the same
    notify_id: one sent two hours after the payment (our answers lost meanwhile) still pays
    the order, and its resends change nothing."""
    _merchant, _buyer, number, trade = await opened_trade(app, client, fake)
    paid = fake.pay(trade.out_trade_no)
    sent = clock.now() - timedelta(hours=2)
    notify_time = sent.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    body = fake.notification(paid, notify_time=notify_time, notify_id="ac05099524730693a8b330c5")
    for _ in range(3):
        answer = await client.post(NOTIFY, content=body, headers=FORM)
        assert (answer.status_code, answer.text) == (200, "success")
    assert (await order_row(app, number)).status == "paid"
    async with db.transaction(write=False) as session:
        stored = list(await session.scalars(select(ProviderNotice)))
        captures = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "capture")
        )
    assert captures == 1
    assert [notice.facts["message_id"] for notice in stored] == ["ac05099524730693a8b330c5"]


@pytest.mark.parametrize(
    "changes", [{"app_id": "2021000199998888"}, {"seller_id": "2088999999999999"}, {}]
)
async def test_a_notification_for_another_app_or_seller_is_kept_for_the_operator(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    fake: FakeAlipay,
    changes: dict[str, str],
) -> None:
    """Signed by Alipay, amount right, but for another app, or paid to another account (or
    naming no account: seller_id left out): never paid here, the operator is told."""
    _merchant, _buyer, number, trade = await opened_trade(app, client, fake)
    leave_out = () if changes else ("seller_id",)
    body = fake.notification(fake.pay(trade.out_trade_no), leave_out=leave_out, **changes)
    answer = await client.post(NOTIFY, content=body, headers=FORM)
    assert (answer.status_code, answer.text) == (200, "success")  # stored: Alipay may stop
    assert (await order_row(app, number)).status == "pending_payment"
    assert await anomalies(db) == ["merchant_mismatch"]


async def test_query_refund_and_close_through_the_sdk(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeAlipay
) -> None:
    merchant, _buyer, number, trade = await opened_trade(app, client, fake)
    fake.pay(trade.out_trade_no)
    clock.advance(timedelta(minutes=5))
    assert await run_jobs(app) == {"advance_payments": 1}  # the notice was lost: asked
    assert (await order_row(app, number)).status == "paid"
    refunded = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 1250}, headers=merchant.auth
    )
    assert refunded.status_code == 201, refunded.text
    listed = await client.get(f"/api/v1/me/shop/orders/{number}/refunds", headers=merchant.auth)
    assert [refund["status"] for refund in listed.json()] == ["succeeded"]
    assert [
        amount for trade_no, amount in fake.refunds.values() if trade_no == trade.out_trade_no
    ] == [1250]

    _m, _b, unpaid, open_trade = await opened_trade(app, client, fake)
    clock.advance(timedelta(minutes=31))
    await run_jobs(app)
    await app.state.dispatch_outbox()
    assert (await order_row(app, unpaid)).status == "closed"
    assert open_trade.status == "TRADE_CLOSED"


async def test_a_payment_alipay_never_opened_closes_only_at_its_deadline(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay
) -> None:
    """Paid by another payment, the order no longer waits for an Alipay payment whose page
    the buyer never opened: Alipay has no trade to close yet, and the buyer could still open
    it before its deadline. So it is closed here only once that deadline has passed."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    started = await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "alipay", "channel": "wap"},
        headers=buyer.auth,
    )
    assert started.status_code == 201, started.text
    await pay_through_sandbox(client, buyer, number)  # paid another way
    clock.advance(timedelta(minutes=6))
    await run_jobs(app)
    assert await payment_status(db, started.json()["payment"]["id"]) == "closing"
    assert "alipay.trade.close" in fake.methods
    clock.advance(timedelta(minutes=30))
    await run_jobs(app)
    assert await payment_status(db, started.json()["payment"]["id"]) == "closed"


async def payment_status(db: Database, public_id: str) -> str:
    async with db.transaction(write=False) as session:
        found = await session.scalar(select(Payment.status).where(Payment.public_id == public_id))
    assert found is not None
    return found


async def paid_trade(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeAlipay
) -> tuple[Any, str, Trade]:
    merchant, _buyer, number, trade = await opened_trade(app, client, fake)
    body = fake.notification(fake.pay(trade.out_trade_no))
    assert (await client.post(NOTIFY, content=body, headers=FORM)).text == "success"
    return merchant, number, trade


async def refund_of(
    client: httpx.AsyncClient, merchant: Any, number: str, amount: int = 1250
) -> tuple[str, int, int]:
    """The merchant refunds; the refund's status, and the shop's escrow and money on its way
    back after it."""
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": amount}, headers=merchant.auth
    )
    assert asked.status_code == 201, asked.text
    return await refund_state(client, merchant, number)


async def refund_state(
    client: httpx.AsyncClient, merchant: Any, number: str
) -> tuple[str, int, int]:
    listed = await client.get(f"/api/v1/me/shop/orders/{number}/refunds", headers=merchant.auth)
    finance = (await client.get("/api/v1/me/shop/finance", headers=merchant.auth)).json()
    return listed.json()[-1]["status"], finance["escrow"], finance["refunding"]


async def anomalies(db: Database) -> list[str]:
    async with db.transaction(write=False) as session:
        return sorted(await session.scalars(select(PaymentAnomaly.kind)))


@pytest.mark.parametrize("answer", ["SYSTEM_ERROR", "UNSIGNED", "BUSY", "BALANCE_LOW"])
async def test_a_refund_alipay_did_not_settle_is_asked_again_later(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay, answer: str
) -> None:
    """Alipay answered, but not that the refund is done or will never be: it is unknown, its
    money on its way back; the refund query then says (no such refund), and it is asked again
    with the same out_request_no."""
    merchant, number, trade = await paid_trade(app, client, fake)
    fake.refund_script.append(answer)
    # Not known to have failed: the money stays on its way back, not the shop's again.
    assert await refund_of(client, merchant, number) == ("unknown", 19800 - 1250, 1250)
    clock.advance(timedelta(minutes=5))
    await run_jobs(app)
    await app.state.dispatch_outbox()
    assert await refund_state(client, merchant, number) == ("succeeded", 19800 - 1250, 0)
    assert [
        amount for trade_no, amount in fake.refunds.values() if trade_no == trade.out_trade_no
    ] == [1250]
    assert await anomalies(db) == []


@pytest.mark.parametrize("with_status", [True, False])
async def test_a_refund_answered_without_fund_change_is_checked_with_the_refund_query(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeAlipay, with_status: bool
) -> None:
    """fund_change N: taken, its outcome read from the refund query, a while later (Alipay
    advises 10 seconds); older answers give the refund's data without refund_status."""
    merchant, number, _trade = await paid_trade(app, client, fake)
    fake.refund_script.append("NO_FUND_CHANGE")
    fake.query_without_status = not with_status
    queried = fake.methods.count("alipay.trade.fastpay.refund.query")
    assert await refund_of(client, merchant, number) == ("processing", 19800 - 1250, 1250)
    assert fake.methods.count("alipay.trade.fastpay.refund.query") == queried
    clock.advance(timedelta(minutes=2))
    await run_jobs(app)
    fake.query_without_status = False
    assert await refund_state(client, merchant, number) == ("succeeded", 19800 - 1250, 0)


async def test_a_refund_alipay_refuses_for_good_gives_the_money_back(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay
) -> None:
    merchant, number, _trade = await paid_trade(app, client, fake)
    fake.refund_script.append("NOT_ALLOWED")
    assert await refund_of(client, merchant, number) == ("failed", 19800, 0)
    assert await anomalies(db) == ["refund_failed"]
    assert (await order_row(app, number)).status == "paid"


async def test_the_notification_after_a_refund_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay
) -> None:
    merchant, number, trade = await paid_trade(app, client, fake)
    assert await refund_of(client, merchant, number) == ("succeeded", 19800 - 1250, 0)
    before = await money_counts(app)
    [sent] = [no for no, (trade_no, _a) in fake.refunds.items() if trade_no == trade.out_trade_no]
    body = fake.refund_notification(trade, sent)
    for _ in range(2):
        assert (await client.post(NOTIFY, content=body, headers=FORM)).text == "success"
    assert await money_counts(app) == before
    assert await anomalies(db) == []


async def test_a_refund_notification_naming_another_seller_goes_to_the_operator(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeAlipay
) -> None:
    merchant, number, trade = await paid_trade(app, client, fake)
    fake.refund_script.append("NO_FUND_CHANGE")  # taken; its outcome still to come
    assert await refund_of(client, merchant, number) == ("processing", 19800 - 1250, 1250)
    [sent] = [no for no, (trade_no, _a) in fake.refunds.items() if trade_no == trade.out_trade_no]
    body = fake.refund_notification(trade, sent, seller_id="2088999999999999")
    assert (await client.post(NOTIFY, content=body, headers=FORM)).text == "success"
    assert await refund_state(client, merchant, number) == ("processing", 19800 - 1250, 1250)
    assert await anomalies(db) == ["refund_mismatch"]
