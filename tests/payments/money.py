"""Helpers for payments tests: paying through the sandbox as a buyer would, the sandbox's
signed notifications, and reading the shop's balances."""

import json
import secrets
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.catalog.models import Sku
from pocketshop.db import Database
from pocketshop.ledger.models import LedgerTransaction
from pocketshop.orders.models import Order
from pocketshop.payments import sandbox, states
from pocketshop.payments.models import Payment, PaymentAnomaly, Refund, SandboxTransaction
from pocketshop.payments.providers import Channel, PayRequest
from tests.commerce import Buyer, Merchant, ordered, run_jobs, ship
from tests.support import csrf_for


async def start_payment(
    client: httpx.AsyncClient, buyer: Buyer, number: str, **body: Any
) -> dict[str, Any]:
    answer = await client.post(
        f"/api/v1/orders/{number}/payments",
        json={"provider": "sandbox", "channel": "page", **body},
        headers=buyer.auth,
    )
    assert answer.status_code == 201, answer.text
    started: dict[str, Any] = answer.json()
    return started


def trade_no(started: dict[str, Any]) -> str:
    return str(started["next"]["redirect_url"]).rsplit("/", 1)[-1]


async def press(
    client: httpx.AsyncClient, out_trade_no: str, button: str = "pay"
) -> httpx.Response:
    """The buyer presses Pay (or Fail) on the sandbox's hosted page. Its notification to our
    callback goes out right after the answer, through the app."""
    token = await csrf_for(client, f"/sandbox/pay/{out_trade_no}")
    return await client.post(
        f"/sandbox/pay/{out_trade_no}/{button}", data={"csrf_token": token}, follow_redirects=False
    )


async def pay_through_sandbox(
    client: httpx.AsyncClient, buyer: Buyer, number: str
) -> dict[str, Any]:
    started = await start_payment(client, buyer, number)
    pressed = await press(client, trade_no(started))
    assert pressed.status_code == 303, pressed.text
    return started


async def sandbox_trade(app: FastAPI, out_trade_no: str) -> SandboxTransaction:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        found = await sandbox.find(session, out_trade_no)
    assert found is not None
    return found


def notification(
    app: FastAPI, trade: SandboxTransaction, **resource: Any
) -> tuple[bytes, dict[str, str]]:
    """A sandbox notification for `trade`, signed; `resource` overrides what it says."""
    body = json.loads(sandbox.notice_body(trade))
    body["resource"].update(resource)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return raw, sandbox.signed_headers(app.state.settings, raw)


async def notify(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/payments/sandbox/notify", content=body, headers=headers)


async def balances(client: httpx.AsyncClient, merchant: Merchant) -> dict[str, int]:
    answer = await client.get("/api/v1/me/shop/finance", headers=merchant.auth)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    found.pop("currency")
    return {name: int(amount) for name, amount in found.items()}


def held(**amounts: int) -> dict[str, int]:
    """A shop's balances: the ones named, all others zero."""
    zero = dict.fromkeys(
        ("escrow", "pending", "available", "withdrawing", "paid_out", "refunding", "owed"), 0
    )
    return zero | amounts


async def money_counts(app: FastAPI) -> dict[str, int]:
    """How many payments, refunds, anomalies and ledger transactions there are."""
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (Payment, Refund, PaymentAnomaly, LedgerTransaction)
        }


async def received(
    app: FastAPI, client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer, sku: Sku, units: int
) -> str:
    """An order paid, shipped and received: its money released to the shop, pending."""
    number = await ordered(client, buyer, merchant.shop, [(sku, units)])
    await pay_through_sandbox(client, buyer, number)
    assert (await ship(client, merchant, number, "SF1234567890123")).status_code == 201
    done = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
    assert done.status_code == 200, done.text
    return number


async def settled(app: FastAPI) -> None:
    """The next day: released money becomes available."""
    clock.advance(timedelta(days=1))
    assert (await run_jobs(app)).get("settle_releases")


async def withdraw(
    client: httpx.AsyncClient, merchant: Merchant, amount: Any, key: str | None = None
) -> httpx.Response:
    headers = dict(merchant.auth) | ({"Idempotency-Key": key} if key else {})
    return await client.post(
        "/api/v1/me/shop/withdrawals", json={"amount": amount}, headers=headers
    )


async def second_payment(app: FastAPI, order_id: int) -> Payment | None:
    """Another payment of an order still waiting (as a second provider would open), opened
    at the sandbox; None when the order no longer waits."""
    db: Database = app.state.db
    async with db.transaction() as session:
        order = await session.get_one(Order, order_id)
        if order.pay_by is None:
            return None
        made = await states.create(
            session,
            Payment,
            {
                "public_id": secrets.token_hex(16),
                "order_id": order.id,
                "shop_id": order.shop_id,
                "buyer_id": order.buyer_id,
                "provider": sandbox.NAME,
                "channel": "second",
                "amount": order.total,
                "currency": order.currency,
                "status": "created",
                "out_trade_no": secrets.token_hex(16),
                "created_at": clock.now(),
                "expires_at": order.pay_by,
                "attempts": 0,
                "stray": False,
            },
            actor="buyer",
        )
    assert made is not None
    await app.state.payments.providers[sandbox.NAME].prepay(
        PayRequest(
            out_trade_no=made.out_trade_no,
            description="second",
            amount=made.amount,
            currency=made.currency,
            channel=Channel.page,
            notify_url=f"{app.state.settings.own_url}/api/v1/payments/sandbox/notify",
            return_url=app.state.settings.own_url,
            client_ip="127.0.0.1",
            expires_at=order.pay_by,
        )
    )
    return made
