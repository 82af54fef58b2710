"""The WeChat Pay adapter (API v3 through `wechatpayv3`), against a local fake of WeChat Pay
with keys made in the test: prepay for Native, H5 and JSAPI; notifications verified (signed
with the platform public key or, while a merchant moves to it, a platform certificate),
decrypted and acted on once; every kind of forged or stale notification refused, and ones for
another merchant or app kept for the operator; queries, refunds and closes signed both
ways."""

import asyncio
import base64
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.accounts.models import WeChatIdentity
from pocketshop.config import ConfigurationError, Settings
from pocketshop.db import Database
from pocketshop.ledger.models import LedgerTransaction
from pocketshop.payments.models import Payment, PaymentAnomaly, ProviderNotice, Refund
from pocketshop.payments.wechatpay import WeChatPayProvider
from tests.commerce import one_sku_and_buyer, order_row, ordered, run_jobs, web_login
from tests.conftest import BASE_URL
from tests.payments.fake_wechat import (
    APPID,
    MCHID,
    TAKEN_ANSWER_LOST,
    FakeWeChatPay,
    PlatformCertificate,
)
from tests.payments.invariants import problems
from tests.payments.money import money_counts
from tests.servers import serving
from tests.support import api_error, csrf_from

NOTIFY = "/api/v1/payments/wechatpay/notify"
IN_WECHAT = "Mozilla/5.0 (iPhone) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"


@pytest.fixture(scope="module")
def fake() -> FakeWeChatPay:
    return FakeWeChatPay()


@pytest.fixture(scope="module")
def gateway(fake: FakeWeChatPay) -> Iterator[str]:
    with serving(lambda _url: fake.app()) as (url, _app):
        yield url


@pytest.fixture
def settings(settings: Settings, fake: FakeWeChatPay, gateway: str) -> Settings:
    return settings.model_copy(
        update={
            "public_base_url": "http://testserver",
            "payment_providers": ["wechatpay", "sandbox"],
            **fake.settings(gateway),
            # The Official Account that signs buyers in: WeChat Pay's own app (JSAPI).
            "wechat_mp_app_id": APPID,
            "wechat_mp_app_secret": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        }
    )


async def start(
    client: httpx.AsyncClient, buyer: Any, number: str, channel: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "wechatpay", "channel": channel, **extra},
        headers=buyer.auth,
    )


async def started_trade(app: FastAPI, client: httpx.AsyncClient, buyer: Any, number: str) -> str:
    """A Native payment of the order; the out_trade_no WeChat knows it by."""
    answer = await start(client, buyer, number, "native")
    assert answer.status_code == 201, answer.text
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        found = await session.scalar(
            select(Payment.out_trade_no).where(Payment.public_id == answer.json()["payment"]["id"])
        )
    assert found is not None
    return found


async def unpaid_order(app: FastAPI, client: httpx.AsyncClient) -> tuple[Any, Any, str]:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    return merchant, buyer, number


async def captures(db: Database) -> int:
    async with db.transaction(write=False) as session:
        query = select(func.count()).select_from(LedgerTransaction)
        return int(await session.scalar(query.where(LedgerTransaction.kind == "capture")) or 0)


async def test_native_h5_and_jsapi_prepay(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeWeChatPay
) -> None:
    _merchant, buyer, number = await unpaid_order(app, client)
    native = await start(client, buyer, number, "native")
    assert native.status_code == 201, native.text
    assert native.json()["next"]["qr_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert "POST /v3/pay/transactions/native" in fake.requests

    h5 = await start(client, buyer, number, "h5")
    assert h5.json()["next"]["redirect_url"].startswith("https://wx.tenpay.com/")

    api_error(await start(client, buyer, number, "jsapi"), 422, "openid_required")
    jsapi = await start(client, buyer, number, "jsapi", openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    params = jsapi.json()["next"]["jsapi"]
    assert params["appId"] == APPID
    assert params["package"].startswith("prepay_id=wx")
    message = "\n".join([APPID, params["timeStamp"], params["nonceStr"], params["package"]]) + "\n"
    fake.merchant_key.public_key().verify(  # raises if WeixinJSBridge would refuse it
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert all(trade.amount == 2 * 9900 for trade in fake.trades.values())


async def test_a_buyer_signed_in_with_wechat_pays_inside_wechat_with_jsapi(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    """The order page's pay button, inside WeChat, for a buyer signed in with the Official
    Account: WeChat Pay's JSAPI with their openid, the cashier's parameters on the page."""
    _merchant, buyer, number = await unpaid_order(app, client)
    openid = "oUpF8uSIGNEDINwithWECHAT0001"
    async with db.transaction() as session:
        session.add(
            WeChatIdentity(
                user_id=buyer.user.id, appid=APPID, openid=openid, created_at=clock.now()
            )
        )
    await web_login(app, client, buyer.user)
    page = await client.get(f"/me/orders/{number}", headers={"User-Agent": IN_WECHAT})
    paying = await client.post(
        f"/me/orders/{number}/pay",
        data={"csrf_token": csrf_from(page.text)},
        headers={"User-Agent": IN_WECHAT},
    )
    assert paying.status_code == 200, paying.text
    [trade] = [trade for trade in fake.trades.values() if trade.payer_openid == openid]
    assert trade.kind == "jsapi"
    button = re.search(r"<button[^>]*data-wxpay[^>]*>", paying.text)
    assert button is not None
    params = {
        name: html.unescape(value)
        for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', button.group(0))
    }
    message = "\n".join([APPID, params["time-stamp"], params["nonce-str"], params["package"]])
    fake.merchant_key.public_key().verify(  # raises if WeixinJSBridge would refuse it
        base64.b64decode(params["pay-sign"]),
        (message + "\n").encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    body, headers = fake.notification(fake.resource(fake.pay(trade.out_trade_no)))
    assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert (await order_row(app, number)).status == "paid"

    # Outside WeChat, or not signed in with it, the same button shows the QR code.
    other = await unpaid_order(app, client)
    await web_login(app, client, other[1].user)
    page = await client.get(f"/me/orders/{other[2]}", headers={"User-Agent": IN_WECHAT})
    qr = await client.post(
        f"/me/orders/{other[2]}/pay",
        data={"csrf_token": csrf_from(page.text)},
        headers={"User-Agent": IN_WECHAT},
    )
    assert qr.status_code == 200
    assert "data-wxpay" not in qr.text


async def test_a_notification_is_verified_decrypted_and_acted_on_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    body, headers = fake.notification(fake.resource(trade))
    answers = await asyncio.gather(
        *(client.post(NOTIFY, content=body, headers=headers) for _ in range(10))
    )
    assert {answer.status_code for answer in answers} == {204}
    assert (await order_row(app, number)).status == "paid"
    assert await captures(db) == 1
    receipt = await client.get(f"/api/v1/orders/{number}/receipt", headers=buyer.auth)
    assert receipt.json()["payment"]["transaction_id"] == trade.transaction_id


async def test_the_schema_names_what_this_deployment_offers(client: httpx.AsyncClient) -> None:
    """The served schema lists the providers configured here and their channels; JSAPI's
    body needs the buyer's openid, as the service does (openid_required above)."""
    served = (await client.get("/openapi.json")).json()
    bodies = served["components"]["schemas"]["PayIn"]["oneOf"]
    offered = {
        (
            body["properties"]["provider"]["const"],
            tuple(body["properties"]["channel"]["enum"]),
        ): body["required"]
        for body in bodies
    }
    assert offered == {
        ("wechatpay", ("h5", "native")): ["provider", "channel"],
        ("wechatpay", ("jsapi",)): ["provider", "channel", "openid"],
        ("sandbox", ("page",)): ["provider", "channel"],
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "probe",
        "unknown_serial",
        "stale",
        "tampered",
        "wrong_apiv3_key",
        "no_signature_type",
        "garbage_signature",
    ],
)
async def test_forged_or_stale_notifications_are_refused(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay, forgery: str
) -> None:
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    stamp = int((clock.now() - timedelta(minutes=6)).timestamp()) if forgery == "stale" else None
    key = "0" * 32 if forgery == "wrong_apiv3_key" else None
    body, headers = fake.notification(fake.resource(trade), key=key, timestamp=stamp)
    if forgery == "probe":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    elif forgery == "unknown_serial":
        headers["Wechatpay-Serial"] = "PUB_KEY_ID_SOMEONE_ELSE"
    elif forgery == "tampered":
        body = body.replace(b'"summary": "', b'"summary": "!', 1)
    elif forgery == "no_signature_type":
        del headers["Wechatpay-Signature-Type"]
    elif forgery == "garbage_signature":
        headers["Wechatpay-Signature"] = "not base64 at all ***"
    before = await money_counts(app)
    answer = await client.post(NOTIFY, content=body, headers=headers)
    assert answer.status_code == 401, (forgery, answer.text)
    assert answer.json()["code"] == "FAIL"
    assert (await order_row(app, number)).status == "pending_payment"
    assert await money_counts(app) == before
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(ProviderNotice)) == 0


async def test_a_notification_that_does_not_match_is_an_anomaly(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    # (The second names another transaction: the first was stored under this one.)
    for changes in [
        {"amount": {"total": 1, "currency": "CNY"}},
        {"mchid": "1900000999", "transaction_id": trade.transaction_id + "9"},
    ]:
        body, headers = fake.notification(fake.resource(trade, **changes))
        assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert (await order_row(app, number)).status == "pending_payment"
    async with db.transaction(write=False) as session:
        kinds = sorted(await session.scalars(select(PaymentAnomaly.kind)))
    assert kinds == ["amount_mismatch", "merchant_mismatch"]


@pytest.mark.parametrize("changes", [{"appid": "wx0000000000000001"}, {"mchid": "1900000999"}])
async def test_a_notice_for_another_app_or_merchant_is_never_paid(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    fake: FakeWeChatPay,
    changes: dict[str, str],
) -> None:
    """Signed by WeChat Pay and sealed under our APIv3 key, amount and currency right, but
    paid in another app or to another merchant: stored (WeChat may stop sending it), the
    operator told, the order still unpaid."""
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    body, headers = fake.notification(fake.resource(trade, **changes))
    assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert (await order_row(app, number)).status == "pending_payment"
    assert await captures(db) == 0
    async with db.transaction(write=False) as session:
        [anomaly] = list(await session.scalars(select(PaymentAnomaly)))
    assert anomaly.kind == "merchant_mismatch"
    assert anomaly.details["identity"] == {"mchid": MCHID, "appid": APPID} | changes


async def test_a_query_answer_for_another_app_is_never_paid(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    """Our own signed question, but the answer names an app not ours: told, not paid."""
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    trade.appid = "wx0000000000000001"
    clock.advance(timedelta(minutes=5))
    await run_jobs(app)
    assert (await order_row(app, number)).status == "pending_payment"
    assert await captures(db) == 0
    assert await anomalies(db) == ["merchant_mismatch"]


@pytest.mark.parametrize("which", [0, 1])
async def test_a_notice_signed_with_a_platform_certificate_pays(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay, which: int
) -> None:
    """While the merchant moves to the platform public key, WeChat Pay signs callbacks with
    either at random: one signed with any configured platform certificate, named by its
    serial number, is verified with that certificate's key."""
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    certificate = fake.certificates[which]
    body, headers = fake.notification(fake.resource(trade), certificate=certificate)
    assert headers["Wechatpay-Serial"] == certificate.serial
    answer = await client.post(NOTIFY, content=body, headers=headers)
    assert answer.status_code == 204, answer.text
    assert (await order_row(app, number)).status == "paid"
    assert await captures(db) == 1


@pytest.mark.parametrize("forgery", ["unknown_certificate", "serial_of_another_key"])
async def test_a_notice_of_an_unknown_certificate_is_refused_without_asking_wechat(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay, forgery: str
) -> None:
    """A serial we were not configured with is refused outright: no certificate is fetched
    from WeChat Pay in the callback (the library would, for a serial it does not know). A
    configured serial on a notice signed with another key does not verify."""
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    if forgery == "unknown_certificate":
        body, headers = fake.notification(fake.resource(trade), certificate=PlatformCertificate())
    else:
        body, headers = fake.notification(fake.resource(trade))
        headers["Wechatpay-Serial"] = fake.certificates[0].serial
    asked = len(fake.requests)
    answer = await client.post(NOTIFY, content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert fake.requests[asked:] == []
    assert (await order_row(app, number)).status == "pending_payment"
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(ProviderNotice)) == 0


@pytest.mark.parametrize(
    "pem",
    [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ],
)
def test_unreadable_platform_certificates_are_refused_at_start_up(
    settings: Settings, pem: str
) -> None:
    with pytest.raises(ConfigurationError, match="POCKETSHOP_WECHATPAY_PLATFORM_CERTIFICATES"):
        WeChatPayProvider(settings.model_copy(update={"wechatpay_platform_certificates": pem}))


async def test_h5_from_an_ipv6_buyer_gives_wechat_the_whole_address(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    """payer_client_ip is the buyer's own address (WeChat Pay H5 checks it against the
    buyer's), not the /64 block rate limits count by."""
    _merchant, buyer, number = await unpaid_order(app, client)
    address = "2408:8207:2482:6a30:1c5d:9f0e:25a1:7b3c"
    transport = httpx.ASGITransport(app=app, client=(address, 52011))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as phone:
        h5 = await start(phone, buyer, number, "h5")
    assert h5.status_code == 201, h5.text
    async with db.transaction(write=False) as session:
        out_trade_no = await session.scalar(
            select(Payment.out_trade_no).where(Payment.public_id == h5.json()["payment"]["id"])
        )
    assert fake.trades[str(out_trade_no)].payer_client_ip == address


async def test_reconciliation_queries_a_payment_whose_notice_was_lost(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeWeChatPay
) -> None:
    _merchant, buyer, number = await unpaid_order(app, client)
    fake.pay(await started_trade(app, client, buyer, number))
    clock.advance(timedelta(minutes=5))
    assert await run_jobs(app) == {"advance_payments": 1}
    assert (await order_row(app, number)).status == "paid"
    assert any(
        request.startswith("GET /v3/pay/transactions/out-trade-no/") for request in fake.requests
    )


async def test_a_refund_is_taken_then_its_outcome_read_from_the_refund_query(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    """WeChat Pay's POST only says the refund was taken (PROCESSING); its outcome comes from
    the refund query, never from sending it again."""
    merchant, number, trade = await paid_order(app, client, fake)
    sent = await refund(client, fake, merchant, number, trade)
    assert await refund_state(client, merchant, number) == ("processing", 500)
    clock.advance(timedelta(minutes=2))
    assert (await run_jobs(app)).get("advance_refunds") == 1
    assert await refund_state(client, merchant, number) == ("succeeded", 0)
    assert (fake.sent("refund POST"), fake.sent("refund query", sent)) == (1, 1)
    assert fake.refunds[sent]["amount"]["refund"] == 500
    assert await problems(db) == []


async def test_an_order_closed_unpaid_is_closed_at_wechat_after_asking(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    """Queried first (WeChat Pay's rule), closed, queried again to know it closed."""
    _m, buyer, number = await unpaid_order(app, client)
    open_trade = await started_trade(app, client, buyer, number)
    deadline = (await order_row(app, number)).pay_by
    assert deadline is not None
    asked_before = len(fake.requests)
    clock.advance(timedelta(minutes=31))
    await run_jobs(app)
    await app.state.dispatch_outbox()
    assert fake.trades[open_trade].state == "CLOSED"
    calls = [request.split("?")[0] for request in fake.requests[asked_before:]]
    path = f"/v3/pay/transactions/out-trade-no/{open_trade}"
    assert calls == [f"GET {path}", f"POST {path}/close", f"GET {path}"]
    async with db.transaction(write=False) as session:
        payment = (await session.scalars(select(Payment))).one()
    assert (payment.status, payment.query_after) == ("closed", None)
    # Its deadline was WeChat Pay's too: the order's, in Beijing time.
    expected = deadline.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")
    assert fake.trades[open_trade].time_expire == expected


async def test_a_trade_paid_as_it_was_being_closed_is_captured_and_returned(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    _m, buyer, number = await unpaid_order(app, client)
    open_trade = await started_trade(app, client, buyer, number)
    fake.pay(open_trade)  # the buyer pays at the last moment; the notice is lost
    clock.advance(timedelta(minutes=31))
    await run_jobs(app)  # the order closes; its payment is to be closed at WeChat Pay
    await app.state.dispatch_outbox()
    await app.state.dispatch_outbox()
    assert fake.trades[open_trade].state == "REFUND"
    assert await problems(db) == []
    async with db.transaction(write=False) as session:
        returned = list(await session.scalars(select(Refund.reason)))
    assert returned == ["late_payment"]


async def test_an_unreachable_wechat_is_a_502_not_a_crash(
    app: FastAPI, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    provider = app.state.payments.providers["wechatpay"]
    provider.settings = settings.model_copy(
        update={"wechatpay_gateway": "http://127.0.0.1:9"}  # nothing listens there
    )
    _merchant, buyer, number = await unpaid_order(app, client)
    before = await money_counts(app)
    api_error(await start(client, buyer, number, "native"), 502, "provider_unavailable")
    # The payment was written before WeChat was called (nothing held while waiting on it),
    # no money moved, and the buyer's next try takes it up again.
    after = await money_counts(app)
    assert after == before | {"payments": before["payments"] + 1}
    provider.settings = settings
    assert (await start(client, buyer, number, "native")).status_code == 201
    assert await money_counts(app) == after
    async with db.transaction(write=False) as session:
        assert list(await session.scalars(select(Payment.status))) == ["created"]


async def paid_order(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeWeChatPay
) -> tuple[Any, str, str]:
    """An order paid with WeChat Pay (its notice acted on): merchant, number, out_trade_no."""
    merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    body, headers = fake.notification(fake.resource(trade))
    assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    return merchant, number, trade.out_trade_no


async def refund(
    client: httpx.AsyncClient, fake: FakeWeChatPay, merchant: Any, number: str, trade: str
) -> str:
    """The merchant refunds 5 yuan; the out_refund_no WeChat got."""
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 500}, headers=merchant.auth
    )
    assert asked.status_code == 201, asked.text
    [sent] = [no for no, one in fake.refunds.items() if one["out_trade_no"] == trade]
    return sent


async def refund_state(client: httpx.AsyncClient, merchant: Any, number: str) -> tuple[str, int]:
    """The refund's status, and what the shop's books hold as on its way back."""
    listed = await client.get(f"/api/v1/me/shop/orders/{number}/refunds", headers=merchant.auth)
    finance = await client.get("/api/v1/me/shop/finance", headers=merchant.auth)
    [one] = listed.json()
    return one["status"], finance.json()["refunding"]


async def anomalies(db: Database) -> list[str]:
    async with db.transaction(write=False) as session:
        return sorted(await session.scalars(select(PaymentAnomaly.kind)))


async def test_refund_notices_finish_a_refund_once_and_odd_ones_go_to_the_operator(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    merchant, number, trade = await paid_order(app, client, fake)
    sent = await refund(client, fake, merchant, number, trade)
    assert await refund_state(client, merchant, number) == ("processing", 500)

    # Signed by WeChat, but about another trade: kept for the operator, nothing moves.
    other = fake.refund_resource(sent, "SUCCESS", out_trade_no="f" * 32, refund_id="5000099")
    body, headers = fake.notification(other, event_type="REFUND.SUCCESS")
    assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert await refund_state(client, merchant, number) == ("processing", 500)
    assert await anomalies(db) == ["refund_mismatch"]

    body, headers = fake.notification(
        fake.refund_resource(sent, "SUCCESS"), event_type="REFUND.SUCCESS"
    )
    for _ in range(3):  # WeChat Pay sends a notice again until it is answered: acted on once
        assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert await refund_state(client, merchant, number) == ("succeeded", 0)
    before = await money_counts(app)

    # A later word that contradicts it: recorded, the books stay as they are.
    body, headers = fake.notification(
        fake.refund_resource(sent, "CLOSED"), event_type="REFUND.CLOSED"
    )
    assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert await refund_state(client, merchant, number) == ("succeeded", 0)
    assert await anomalies(db) == ["refund_mismatch", "refund_outcome_changed"]
    assert await money_counts(app) == before | {
        "payment_anomalies": before["payment_anomalies"] + 1
    }


async def test_an_abnormal_refund_waits_for_the_operator_and_is_asked_about_daily(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    merchant, number, trade = await paid_order(app, client, fake)
    fake.refund_script.append("ABNORMAL")
    sent = await refund(client, fake, merchant, number, trade)
    # WeChat has the money but could not reach the buyer's card: not the shop's again.
    assert await refund_state(client, merchant, number) == ("processing", 500)
    assert await anomalies(db) == ["refund_stuck"]
    clock.advance(timedelta(minutes=2))
    await run_jobs(app)  # asked again: still stuck, told once only
    assert await anomalies(db) == ["refund_stuck"]
    assert fake.sent("refund query", sent) == 1
    # Someone sorted it out at WeChat: its notice finishes the refund.
    body, headers = fake.notification(
        fake.refund_resource(sent, "SUCCESS"), event_type="REFUND.SUCCESS"
    )
    assert (await client.post(NOTIFY, content=body, headers=headers)).status_code == 204
    assert await refund_state(client, merchant, number) == ("succeeded", 0)


@pytest.mark.parametrize(
    "answer",
    [
        "SYSTEM_ERROR",
        TAKEN_ANSWER_LOST,
        "RESOURCE_NOT_EXISTS",
        "NOT_ENOUGH",
        "FREQUENCY_LIMITED",
        "SIGN_ERROR",
    ],
)
async def test_an_unclear_refund_answer_is_never_taken_for_a_refusal(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay, answer: str
) -> None:
    """An error that does not say the refund will never happen (a 5xx, a lost answer, a
    spurious RESOURCE_NOT_EXISTS, a balance too low now, a clock-skewed signature) leaves it
    unknown, its money on the way back; the refund query then says, and a refund WeChat
    never took is sent again with the same out_refund_no: refunded once."""
    merchant, number, trade = await paid_order(app, client, fake)
    fake.refund_script.append(answer)
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 500}, headers=merchant.auth
    )
    assert asked.status_code == 201, asked.text
    assert await refund_state(client, merchant, number) == ("unknown", 500)
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        await run_jobs(app)
    assert await refund_state(client, merchant, number) == ("succeeded", 0)
    assert [one["out_trade_no"] for one in fake.refunds.values()].count(trade) == 1
    assert await anomalies(db) == []
    assert await problems(db) == []


async def test_a_refund_wechat_refuses_for_good_gives_the_money_back(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    merchant, number, trade = await paid_order(app, client, fake)
    fake.refund_script.append("USER_ACCOUNT_ABNORMAL")
    asked = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": 500}, headers=merchant.auth
    )
    assert asked.status_code == 201, asked.text
    assert await refund_state(client, merchant, number) == ("failed", 0)
    assert await anomalies(db) == ["refund_failed"]
    assert not [one for one in fake.refunds.values() if one["out_trade_no"] == trade]


async def test_a_trade_wechat_reports_as_refunded_is_told_not_guessed(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake: FakeWeChatPay
) -> None:
    """Asked about a payment we think open, WeChat says REFUND: it was paid and refunded
    (in part, or whole) outside our books. Not captured whole: the operator is told, and
    it is asked about no more."""
    _merchant, buyer, number = await unpaid_order(app, client)
    trade = fake.pay(await started_trade(app, client, buyer, number))
    trade.state = "REFUND"  # paid, then refunded at WeChat; its notice never came
    clock.advance(timedelta(minutes=5))
    await run_jobs(app)
    assert (await order_row(app, number)).status == "pending_payment"
    assert await anomalies(db) == ["refunded_elsewhere"]
    assert await captures(db) == 0
    clock.advance(timedelta(hours=1))
    assert "advance_payments" not in await run_jobs(app)
