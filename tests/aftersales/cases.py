"""Builders for after-sales tests: orders at the step a case starts from, the case's routes
as the buyer and the shop call them, the operator's decision through the service (its pages
are /admin/disputes), and what the database holds of cases and refunds."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.aftersales import service
from pocketshop.aftersales.models import AftersalesCase, AftersalesEvent, AftersalesPhoto
from pocketshop.catalog.models import Sku
from pocketshop.db import Database
from pocketshop.payments.models import Refund
from pocketshop.shops.models import Shop
from tests.commerce import Buyer, Merchant, next_phone, one_sku_and_buyer, ordered, ship
from tests.payments.money import pay_through_sandbox, received

RETURN_ADDRESS = "上海市黄浦区南京东路 1 号 小明的店 收"


def json_of(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON object of an answer that must have succeeded with `status`."""
    assert answer.status_code == status, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def paid(
    client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer, lines: list[tuple[Sku, int]]
) -> str:
    """An order paid through the sandbox, not shipped: its money in escrow."""
    number = await ordered(client, buyer, merchant.shop, lines)
    await pay_through_sandbox(client, buyer, number)
    return number


async def shipped(
    client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer, lines: list[tuple[Sku, int]]
) -> str:
    """An order paid and shipped, not received yet: its money still in escrow."""
    number = await paid(client, merchant, buyer, lines)
    assert (await ship(client, merchant, number, "SF1234567890123")).status_code == 201
    return number


async def confirm_receipt(client: httpx.AsyncClient, buyer: Buyer, number: str) -> dict[str, Any]:
    return json_of(
        await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
    )


async def order_of(client: httpx.AsyncClient, buyer: Buyer, number: str) -> dict[str, Any]:
    return json_of(await client.get(f"/api/v1/orders/{number}", headers=buyer.auth))


async def line_ids(client: httpx.AsyncClient, buyer: Buyer, number: str) -> list[str]:
    """The order's line ids, in the order's order."""
    return [line["id"] for line in (await order_of(client, buyer, number))["lines"]]


def apply(
    client: httpx.AsyncClient,
    buyer: Buyer,
    number: str,
    line_id: str,
    kind: str,
    quantity: int = 1,
    reason: str = "damaged",
    **extra: Any,
) -> Any:
    body = {"line_id": line_id, "kind": kind, "quantity": quantity, "reason": reason} | extra
    return client.post(f"/api/v1/orders/{number}/aftersales", json=body, headers=buyer.auth)


async def applied(
    client: httpx.AsyncClient,
    buyer: Buyer,
    number: str,
    line_id: str,
    kind: str,
    quantity: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A case that must be made; its JSON."""
    found = json_of(await apply(client, buyer, number, line_id, kind, quantity, **extra), 201)
    assert found["status"] == "requested", found
    return found


async def received_and_applied(
    app: FastAPI, client: httpx.AsyncClient, kind: str, **extra: Any
) -> tuple[Merchant, Buyer, str, dict[str, Any]]:
    """Where most cases start: a shop selling one SKU, a buyer who received one unit of it
    (the order's number), and the case they opened on that line."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 1)
    (line,) = await line_ids(client, buyer, number)
    return merchant, buyer, number, await applied(client, buyer, number, line, kind, **extra)


def as_buyer(
    client: httpx.AsyncClient, buyer: Buyer, case_id: str, step: str, body: Any = None
) -> Any:
    """A buyer's step on a case: accept, decline, return-shipment, escalate, withdraw."""
    return client.post(f"/api/v1/aftersales/{case_id}/{step}", json=body, headers=buyer.auth)


def as_shop(
    client: httpx.AsyncClient, merchant: Merchant, case_id: str, step: str, body: Any = None
) -> Any:
    """A shop's step on a case: agree, propose, refuse, receive."""
    return client.post(
        f"/api/v1/me/shop/aftersales/{case_id}/{step}", json=body or {}, headers=merchant.auth
    )


async def done(answer: Any, status: str) -> dict[str, Any]:
    """A step that must succeed and leave the case in `status`; the case's JSON."""
    found = json_of(await answer)
    assert found["status"] == status, found
    return found


async def buyers_view(client: httpx.AsyncClient, buyer: Buyer, case_id: str) -> dict[str, Any]:
    return json_of(await client.get(f"/api/v1/aftersales/{case_id}", headers=buyer.auth))


async def shops_view(client: httpx.AsyncClient, merchant: Merchant, case_id: str) -> dict[str, Any]:
    return json_of(await client.get(f"/api/v1/me/shop/aftersales/{case_id}", headers=merchant.auth))


def timeline(case: dict[str, Any]) -> list[tuple[str, str]]:
    """(status moved to, who moved it), oldest first."""
    return [(event["to_status"], event["actor"]) for event in case["events"]]


async def send_back(client: httpx.AsyncClient, buyer: Buyer, case_id: str) -> dict[str, Any]:
    body = {"carrier": "SF", "tracking_number": "SF9876543210987"}
    return await done(as_buyer(client, buyer, case_id, "return-shipment", body), "returning")


async def given_an_address(app: FastAPI, merchant: Merchant) -> None:
    """The shop has a return address, as after agreeing to a return before."""
    db: Database = app.state.db
    async with db.transaction() as session:
        (await session.get_one(Shop, merchant.shop.id)).return_address = RETURN_ADDRESS


async def make_operator(app: FastAPI) -> User:
    db: Database = app.state.db
    async with db.transaction() as session:
        return await accounts.set_operator(session, next_phone(), on=True)


async def decide(
    app: FastAPI, operator: User, case_id: str, *, refund: bool, note: str
) -> AftersalesCase:
    """An operator's decision on an escalated case, in a transaction of its own, then what
    it queued sent (what a request to /admin/disputes does); a refusal raises and rolls the
    transaction back."""
    db: Database = app.state.db
    async with db.transaction() as session:
        decided = await service.decide(
            session, app.state.settings, operator, case_id, refund=refund, note=note
        )
    await app.state.dispatch_outbox()  # as after a request: a refund goes to the provider
    return decided


async def refunds_of(
    client: httpx.AsyncClient, merchant: Merchant, number: str
) -> list[tuple[int, str, str]]:
    """The order's refunds as the shop sees them: (amount, requested_by, reason)."""
    answer = await client.get(f"/api/v1/me/shop/orders/{number}/refunds", headers=merchant.auth)
    assert answer.status_code == 200, answer.text
    return sorted(
        (refund["amount"], refund["requested_by"], refund["reason"]) for refund in answer.json()
    )


async def refund_rows(app: FastAPI) -> list[tuple[int, str, str]]:
    """Every refund row: (amount, source, reason)."""
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(Refund.amount, Refund.source, Refund.reason).order_by(Refund.id)
        )
        return [(amount, source, reason) for amount, source, reason in rows]


async def case_counts(app: FastAPI) -> dict[str, int]:
    """Rows of every after-sales table and refunds: compared around a refused request."""
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (AftersalesCase, AftersalesEvent, AftersalesPhoto, Refund)
        }


async def case_row(app: FastAPI, case_id: str) -> AftersalesCase:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return (
            await session.scalars(select(AftersalesCase).where(AftersalesCase.public_id == case_id))
        ).one()
