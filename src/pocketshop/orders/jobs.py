"""Timed transitions of orders: close the unpaid, confirm receipt for the silent (its money
released: orders.actions)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.config import Settings
from pocketshop.jobs import Sweep, due_ids
from pocketshop.orders import actions
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderStatus


async def unpaid_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    return await due_ids(
        session,
        Order.id,
        Order.status == OrderStatus.pending_payment.value,
        Order.pay_by <= now,
        order_by=Order.pay_by,
        limit=limit,
    )


async def receipt_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    return await due_ids(
        session,
        Order.id,
        Order.status == OrderStatus.shipped.value,
        Order.auto_confirm_at <= now,
        order_by=Order.auto_confirm_at,
        limit=limit,
    )


def sweeps(settings: Settings) -> list[Sweep]:
    async def close_unpaid(session: AsyncSession, order_id: int) -> bool:
        return await actions.close_unpaid(session, settings, order_id)

    async def auto_confirm(session: AsyncSession, order_id: int) -> bool:
        return await actions.auto_confirm(session, settings, order_id)

    return [
        Sweep("close_unpaid_orders", unpaid_due, close_unpaid),
        Sweep("auto_confirm_receipt", receipt_due, auto_confirm),
    ]
