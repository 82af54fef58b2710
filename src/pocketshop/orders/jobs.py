"""Timed transitions of orders: close the unpaid, confirm receipt for the silent."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.jobs import Sweep, due_ids
from pocketshop.orders import service
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


SWEEPS = [
    Sweep("close_unpaid_orders", unpaid_due, service.close_if_unpaid),
    Sweep("auto_confirm_receipt", receipt_due, service.auto_confirm),
]
