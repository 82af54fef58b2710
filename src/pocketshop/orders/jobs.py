"""Timed transitions of orders: close the unpaid, confirm receipt for the silent (its money
released: orders.actions)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.config import Settings
from pocketshop.jobs import Sweep, due_ids
from pocketshop.notifications import service as notifications
from pocketshop.notifications.events import Event
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


async def reminders_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    return await due_ids(
        session, Order.id, Order.remind_at <= now, order_by=Order.remind_at, limit=limit
    )


async def remind_of_receipt(session: AsyncSession, order_id: int) -> bool:
    """Tell the buyer, once, that receipt will be confirmed for them soon."""
    reminded = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.remind_at.is_not(None))
        .values(remind_at=None)
        .returning(Order.number, Order.buyer_id, Order.status, Order.auto_confirm_at)
        .execution_options(synchronize_session=False)
    )
    found = reminded.one_or_none()
    if found is None:
        return False
    number, buyer_id, status, confirm_at = found
    if status == OrderStatus.shipped.value and confirm_at is not None:
        notifications.notify(
            session,
            Event.receipt_due_soon,
            number,
            {"number": number, "at": confirm_at.isoformat()},
            user_id=buyer_id,
        )
    return True


def sweeps(settings: Settings) -> list[Sweep]:
    async def close_unpaid(session: AsyncSession, order_id: int) -> bool:
        return await actions.close_unpaid(session, settings, order_id)

    async def auto_confirm(session: AsyncSession, order_id: int) -> bool:
        return await actions.auto_confirm(session, settings, order_id)

    return [
        Sweep("close_unpaid_orders", unpaid_due, close_unpaid),
        Sweep("auto_confirm_receipt", receipt_due, auto_confirm),
        Sweep("receipt_reminders", reminders_due, remind_of_receipt),
    ]
