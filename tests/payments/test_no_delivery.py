"""Payment requests without delivery (a service or a fee): the buyer pays with no address and
no shipping fee; once paid the order waits for the buyer's confirmation (never shipped: the
shop's ship is refused 409, and no "shipped" notification goes out); the buyer confirms, or
the receipt sweep confirms it after the usual delay, and its money is released and settled as
any order's. Another shop cannot see, cancel or ship it."""

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.db import Database
from pocketshop.notifications.models import Notification
from pocketshop.orders.models import Order
from tests.commerce import (
    Merchant,
    events_to,
    make_buyer,
    make_merchant,
    order_row,
    run_jobs,
    ship,
)
from tests.orders.test_store_pages import log_in
from tests.payments.invariants import problems
from tests.payments.money import balances, held, pay_through_sandbox
from tests.payments.test_outcomes import pay_on_pages
from tests.support import api_error, csrf_for, csrf_from, other_client, tr

BASE = "/api/v1/me/shop/payment-requests"


async def service_request(client: httpx.AsyncClient, merchant: Merchant) -> str:
    made = await client.post(
        BASE,
        json={"amount": 30000, "note": "上门安装费", "no_delivery": True},
        headers=merchant.auth,
    )
    assert made.status_code == 201, made.text
    assert made.json()["no_delivery"] is True
    assert made.json()["shipping"] == 0
    return str(made.json()["id"])


async def events_of(app: FastAPI, number: str) -> list[str]:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return list(
            await session.scalars(
                select(Notification.event)
                .where(Notification.key == number)
                .order_by(Notification.id)
            )
        )


async def taken_and_paid(
    app: FastAPI, client: httpx.AsyncClient, merchant: Merchant
) -> tuple[str, str]:
    """A buyer takes a no-delivery request through the API, giving no address, and pays."""
    request_id = await service_request(client, merchant)
    buyer = await make_buyer(app)
    taken = await client.post(
        f"/api/v1/shops/{merchant.shop.slug}/payment-requests/{request_id}/orders",
        json={},
        headers=buyer.auth,
    )
    assert taken.status_code == 201, taken.text
    number = str(taken.json()["order"])
    assert taken.json()["total"] == 30000
    await pay_through_sandbox(client, buyer, number)
    return number, buyer.auth["Authorization"]


async def test_products_cannot_go_without_delivery(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    refused = await client.post(
        BASE,
        json={"items": [{"sku_id": "x" * 32, "quantity": 1}], "no_delivery": True},
        headers=merchant.auth,
    )
    api_error(refused, 422, "no_delivery_needs_amount")
    assert (await client.get(BASE, headers=merchant.auth)).json() == []
    spec = (await client.get("/openapi.json")).json()
    fields = spec["components"]["schemas"]["PaymentRequestIn"]["properties"]
    assert fields["no_delivery"]["type"] == "boolean"


async def test_paid_without_address_it_waits_for_the_buyer_who_confirms(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    number, auth = await taken_and_paid(app, client, merchant)
    order = await order_row(app, number)
    assert (order.status, order.no_delivery) == ("shipped", True)
    assert (order.shipping_fee, order.total, order.recipient) == (0, 30000, "")
    assert order.auto_confirm_at is not None
    assert await events_to(app, number) == ["pending_payment", "paid", "shipped"]

    # Nothing to ship: refused, and nothing changed.
    shipped = await ship(client, merchant, number, "SF1234567890123")
    api_error(shipped, 409, "no_delivery")
    assert await events_to(app, number) == ["pending_payment", "paid", "shipped"]

    await run_jobs(app)  # the outbox: the shop is told it was paid, nobody that it shipped
    told = await events_of(app, number)
    assert "payment_request_paid" in told
    assert "order_shipped" not in told

    confirmed = await client.post(
        f"/api/v1/orders/{number}/confirm-receipt", headers={"Authorization": auth}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (await order_row(app, number)).status == "completed"
    assert await events_to(app, number) == ["pending_payment", "paid", "shipped", "completed"]
    assert await balances(client, merchant) == held(pending=30000 - 180)
    assert await problems(app.state.db) == []


async def test_the_receipt_sweep_confirms_it_after_the_usual_delay(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    number, _auth = await taken_and_paid(app, client, merchant)
    paid_at = clock.now()
    days = app.state.settings.auto_confirm_days
    clock.advance(timedelta(days=days) - timedelta(minutes=1))
    assert "auto_confirm_receipt" not in await run_jobs(app)
    assert (await order_row(app, number)).status == "shipped"
    assert await balances(client, merchant) == held(escrow=30000)

    clock.advance(timedelta(minutes=2))
    assert (await run_jobs(app)).get("auto_confirm_receipt") == 1
    order = await order_row(app, number)
    assert order.status == "completed"
    assert order.completed_at is not None
    assert order.completed_at - paid_at >= timedelta(days=days)
    assert await balances(client, merchant) == held(pending=30000 - 180)
    clock.advance(timedelta(days=1))
    assert (await run_jobs(app)).get("settle_releases") == 1
    assert await balances(client, merchant) == held(available=30000 - 180)
    assert await events_to(app, number) == ["pending_payment", "paid", "shipped", "completed"]
    assert "order_shipped" not in await events_of(app, number)
    assert await problems(app.state.db) == []


async def test_on_the_pages_the_buyer_gives_no_address(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await log_in(app, client, merchant.user)
    token = await csrf_for(client, "/console/payment-requests")
    made = await client.post(
        "/console/payment-requests",
        data={
            "amount": "300",
            "note": "上门安装费",
            "hours": "72",
            "no_delivery": "1",
            "csrf_token": token,
        },
    )
    assert made.status_code == 303, made.text
    detail = await client.get(made.headers["location"])
    assert 'class="hint no-delivery"' in detail.text
    request_path = made.headers["location"]
    link = detail.text.split('class="request-link" value="', 1)[1].split('"', 1)[0]
    path = link.removeprefix("http://testserver")

    async with other_client(app) as browser:
        buyer = await make_buyer(app)
        await log_in(app, browser, buyer.user)
        page = await browser.get(path)
        assert 'class="hint no-delivery"' in page.text
        assert 'name="recipient"' not in page.text  # no address asked
        paying = await browser.post(path, data={"csrf_token": csrf_from(page.text)})
        assert paying.status_code == 303, paying.text
        assert paying.headers["location"].startswith("/sandbox/pay/")
        shown = await browser.get(paying.headers["location"])
        pressed = await browser.post(
            f"{paying.headers['location']}/pay", data={"csrf_token": csrf_from(shown.text)}
        )
        back = await browser.get(pressed.headers["location"])
        assert back.headers["location"].endswith("/paid")
        number = back.headers["location"].split("/")[-2]
        order_page = await browser.get(f"/me/orders/{number}")
        assert tr("Awaiting your confirmation") in order_page.text
        assert 'class="card no-delivery"' in order_page.text
        assert tr("Delivery address") not in order_page.text
        assert "/confirm" in order_page.text
        # The buyer's address book got nothing from it.
        book = await client.get("/api/v1/me/addresses", headers=buyer.auth)
        assert book.json() == []
        token = csrf_from(order_page.text)
        confirmed = await browser.post(f"/me/orders/{number}/confirm", data={"csrf_token": token})
        assert confirmed.status_code == 303
        assert (await order_row(app, number)).status == "completed"

    # Another shop can neither see it nor cancel it.
    other = await make_merchant(app, "隔壁的店")
    await log_in(app, client, other.user)
    assert (await client.get(request_path)).status_code == 404
    token = await csrf_for(client, "/console/payment-requests")
    cancel = await client.post(f"{request_path}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404
    request_id = request_path.rsplit("/", 1)[-1]
    assert (await client.get(f"{BASE}/{request_id}", headers=other.auth)).status_code == 404
    assert (await ship(client, other, number, "SF1234567890123")).status_code == 404


async def test_a_no_delivery_order_read_back_as_it_was_paid(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The success page of such an order, on the pages: no address anywhere."""
    merchant = await make_merchant(app)
    request_id = await service_request(client, merchant)
    buyer = await make_buyer(app)
    taken = await client.post(
        f"/api/v1/shops/{merchant.shop.slug}/payment-requests/{request_id}/orders",
        json={"address_id": "not-mine"},  # ignored: nothing is delivered
        headers=buyer.auth,
    )
    assert taken.status_code == 201, taken.text
    number = taken.json()["order"]
    await log_in(app, client, buyer.user)
    assert await pay_on_pages(client, number) == f"/me/orders/{number}/paid"
    page = await client.get(f"/me/orders/{number}/paid")
    assert tr("Payment successful") in page.text
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        order = (await session.scalars(select(Order).where(Order.number == number))).one()
    assert order.status == "shipped"


async def test_a_paid_no_delivery_order_reads_awaiting_confirmation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Stored as shipped (so the receipt timers run), it is never called shipped: the buyer's
    list, the shop's API, list and page all say it waits for confirmation."""
    merchant = await make_merchant(app)
    number, buyer_token = await taken_and_paid(app, client, merchant)
    waiting = tr("Awaiting confirmation")
    shipped = tr("Shipped")
    from_api = await client.get(f"/api/v1/orders/{number}", headers={"Authorization": buyer_token})
    assert from_api.status_code == 200, from_api.text
    assert from_api.json()["status_label"] == waiting
    shop_api = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
    assert shop_api.json()["status_label"] == waiting
    await log_in(app, client, merchant.user)
    for path in ("/console/orders", f"/console/orders/{number}"):
        page = await client.get(path)
        assert page.status_code == 200
        assert waiting in page.text
        assert f">{shipped}<" not in page.text


async def test_after_sales_on_it_is_a_refund_only_and_says_why(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    number, auth = await taken_and_paid(app, client, merchant)
    headers = {"Authorization": auth}
    order = (await client.get(f"/api/v1/orders/{number}", headers=headers)).json()
    line_id = order["lines"][0]["id"]
    body = {"line_id": line_id, "quantity": 1, "reason": "damaged"}
    for kind in ("return_refund", "exchange"):
        refused = await client.post(
            f"/api/v1/orders/{number}/aftersales", json=body | {"kind": kind}, headers=headers
        )
        api_error(refused, 409, "not_shipped")
        assert refused.json()["error"]["message"] == tr(
            "Nothing is delivered for this order: ask for a refund only."
        )
    asked = await client.post(
        f"/api/v1/orders/{number}/aftersales", json=body | {"kind": "refund_only"}, headers=headers
    )
    assert asked.status_code == 201, asked.text
