"""Reads of orders for lists, the console and exports: filtered, paged, without N+1."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.models import User
from pocketshop.orders.models import Order, OrderLine
from pocketshop.orders.service import AWAITING_SHIPMENT, OrderStatus, StatusFilter
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, like_pattern

PAGE_SIZE = 20


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    page: int
    has_next: bool


async def list_for_buyer(
    session: AsyncSession, buyer: User, *, page: int = 1, per_page: int = PAGE_SIZE
) -> OrderPage:
    page = max(page, 1)
    rows = list(
        await session.scalars(
            select(Order)
            .where(Order.buyer_id == buyer.id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return OrderPage(orders=rows[:per_page], page=page, has_next=len(rows) > per_page)


def _shop_filter(shop: Shop, status: StatusFilter, query: str) -> list[Any]:
    conditions: list[Any] = [Order.shop_id == shop.id]
    if isinstance(status, OrderStatus):
        conditions.append(Order.status == status.value)
    elif status:
        conditions.append(Order.status.in_([one.value for one in status]))
    # Cleaned as stored text is: it matches what was stored, and no NUL reaches PostgreSQL
    # (which refuses it in text: 500).
    text = clean_line(query)
    if text:
        digits = "".join(ch for ch in text if ch.isdigit())
        pattern = like_pattern(digits or text)
        conditions.append(
            or_(
                Order.number.like(pattern, escape="\\"),
                Order.phone.like(pattern, escape="\\"),
                Order.recipient.like(like_pattern(text), escape="\\"),
            )
        )
    return conditions


async def list_for_shop(
    session: AsyncSession,
    shop: Shop,
    *,
    status: StatusFilter = None,
    query: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> OrderPage:
    """The shop's orders, newest first; by status, and by number, phone or recipient."""
    page = max(page, 1)
    rows = list(
        await session.scalars(
            select(Order)
            .where(*_shop_filter(shop, status, query))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return OrderPage(orders=rows[:per_page], page=page, has_next=len(rows) > per_page)


async def orders_for_export(
    session: AsyncSession, shop: Shop, *, status: StatusFilter = None, query: str = ""
) -> list[tuple[Order, OrderLine]]:
    rows = await session.execute(
        select(Order, OrderLine)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(*_shop_filter(shop, status, query))
        .order_by(Order.created_at.desc(), Order.id.desc(), OrderLine.position)
    )
    return [(order, line) for order, line in rows]


async def newer_than(session: AsyncSession, shop: Shop, number: str | None) -> list[Order]:
    """Orders placed after the one a console page shows as newest: the live badge."""
    statement = select(Order).where(Order.shop_id == shop.id)
    if number:
        seen = await session.scalar(
            select(Order.id).where(Order.shop_id == shop.id, Order.number == number)
        )
        if seen is not None:
            statement = statement.where(Order.id > seen)
    return list(await session.scalars(statement.order_by(Order.id.desc()).limit(100)))


async def awaiting_shipment_count(session: AsyncSession, shop: Shop) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Order.shop_id == shop.id,
            Order.status.in_([status.value for status in AWAITING_SHIPMENT]),
        )
    )
    return count or 0


@dataclass(frozen=True)
class Today:
    """A shop's day so far, for the console's home."""

    orders: int  # placed since the day began
    paid: int  # fen paid since the day began, by orders placed any day
    to_ship: int  # awaiting shipment now


async def today(
    session: AsyncSession, shop: Shop, day_start: datetime, pay_within: timedelta
) -> Today:
    """The day's figures in one query (orders placed and paid since `day_start`, the shop's
    local midnight, and those awaiting shipment). An order is paid within `pay_within` of
    being placed (its unpaid timeout, with a margin), so one paid today was placed since
    `day_start - pay_within`: the read stays on the shop's recent orders (an index) and those
    to ship, however many orders the shop has."""
    awaiting = Order.status.in_([status.value for status in AWAITING_SHIPMENT])
    placed, paid, to_ship = (
        await session.execute(
            select(
                func.count().filter(Order.created_at >= day_start),
                func.coalesce(func.sum(case((Order.paid_at >= day_start, Order.total))), 0),
                func.count().filter(awaiting),
            ).where(
                Order.shop_id == shop.id,
                or_(Order.created_at >= day_start - pay_within, awaiting),
            )
        )
    ).one()
    return Today(orders=int(placed), paid=int(paid), to_ship=int(to_ship))


async def status_counts(session: AsyncSession, shop: Shop) -> dict[str, int]:
    """How many orders the shop has in each status, in one query (the console's tabs)."""
    rows = await session.execute(
        select(Order.status, func.count()).where(Order.shop_id == shop.id).group_by(Order.status)
    )
    return {status: int(count) for status, count in rows}


async def newest_number(session: AsyncSession, shop: Shop) -> str | None:
    """The shop's latest order: where the console's live badge starts counting."""
    return await session.scalar(
        select(Order.number).where(Order.shop_id == shop.id).order_by(Order.id.desc()).limit(1)
    )
