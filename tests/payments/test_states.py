"""A new payment, refund or withdrawal and its first event are written together (one statement
on PostgreSQL); the row comes back as the session's own, as if loaded."""

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.db import Database
from pocketshop.payments import states
from pocketshop.payments.models import MoneyEvent, Payment, new_public_id
from tests.commerce import one_sku_and_buyer, order_row, ordered


def payment_values(order_id: int, shop_id: int, buyer_id: int, trade: str) -> dict[str, object]:
    """What a new payment is given: the columns left out are NULL (`db.new_row`)."""
    return {
        "public_id": new_public_id(),
        "order_id": order_id,
        "shop_id": shop_id,
        "buyer_id": buyer_id,
        "provider": "sandbox",
        "channel": "page",
        "amount": 9900,
        "currency": "CNY",
        "status": "created",
        "out_trade_no": trade,
        "created_at": clock.now(),
    }


async def test_a_new_row_comes_with_its_first_event_and_a_clash_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    db: Database = app.state.db
    merchant, sku, buyer = await one_sku_and_buyer(app)
    order = await order_row(app, await ordered(client, buyer, merchant.shop, [(sku, 1)]))
    values = payment_values(order.id, order.shop_id, order.buyer_id, "TRADE-1")
    async with db.transaction() as session:
        payment = await states.create(session, Payment, values, actor="buyer")
        assert payment is not None
        assert payment in session
        assert payment.out_trade_no == "TRADE-1"
        again = payment_values(order.id, order.shop_id, order.buyer_id, "TRADE-1")
        assert await states.create(session, Payment, again, actor="buyer") is None
        payment.query_after = None  # a change to it is saved like one to a loaded row
    async with db.transaction(write=False) as session:
        stored = (await session.scalars(select(Payment))).all()
        assert [(one.id, one.public_id) for one in stored] == [(payment.id, values["public_id"])]
        assert (stored[0].status, stored[0].query_after, stored[0].paid_at) == (
            "created",
            None,
            None,
        )
        events = (await session.scalars(select(MoneyEvent))).all()
        assert [(e.subject, e.subject_id, e.from_status, e.to_status, e.actor) for e in events] == [
            ("payment", payment.id, None, "created", "buyer")
        ]
