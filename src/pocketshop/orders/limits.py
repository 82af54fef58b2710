"""Limits on what one buyer's unpaid orders hold in one shop. Each keeps its stock until paid
or closed: without limits one account could empty a flash sale by ordering and never paying.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, db
from pocketshop.accounts.models import User
from pocketshop.catalog import stock
from pocketshop.catalog.models import Sku
from pocketshop.config import Settings
from pocketshop.db import table_of
from pocketshop.errors import Conflict, TooManyRequests
from pocketshop.i18n import _
from pocketshop.orders.models import Order, OrderLine
from pocketshop.orders.service import OrderStatus
from pocketshop.shops.models import Shop

# `db.serialize`'s key space for one buyer's checkouts in one shop (accounts has 1 and 2).
_LOCK_CHECKOUT = 3

_orders = table_of(Order)
_lines = table_of(OrderLine)
_UNPAID = (
    _orders.c.buyer_id == bindparam("buyer_id"),
    _orders.c.shop_id == bindparam("shop_id"),
    _orders.c.status == OrderStatus.pending_payment.value,
)
# Summed by the database, so the cost does not grow with the orders: how many there are, the
# oldest one's deadline, and per SKU the units they hold. Read with the SKUs of a new order,
# in the statement that prices it (built once, see stock.purchasable_rows).
_UNPAID_ORDERS = select(func.count()).where(*_UNPAID).scalar_subquery().label("unpaid_orders")
_OLDEST = select(func.min(_orders.c.pay_by)).where(*_UNPAID).scalar_subquery().label("oldest")
_UNITS_HELD = (
    select(func.coalesce(func.sum(_lines.c.quantity), 0))
    .join_from(_orders, _lines, _lines.c.order_id == _orders.c.id)
    .where(*_UNPAID, _lines.c.sku_id == table_of(Sku).c.id)
    .scalar_subquery()
    .label("units_held")
)
_HOLDINGS = (_UNPAID_ORDERS, _OLDEST, _UNITS_HELD)
_ORDERS_HELD = select(_UNPAID_ORDERS, _OLDEST)


@dataclass(frozen=True)
class Holdings:
    """What the buyer's unpaid orders in one shop hold."""

    orders: int
    oldest_pay_by: datetime | None
    units: dict[int, int]  # by SKU id, for the SKUs asked about


async def one_checkout_at_a_time(session: AsyncSession, buyer: User, shop: Shop) -> None:
    """The buyer's checkouts in this shop wait for each other until commit: the limits count
    orders, and two at once would both count one too few. Taken before the count (and before
    an Idempotency-Key is looked up, so a twin request waits, then finds the order)."""
    await db.serialize(session, _LOCK_CHECKOUT, f"{buyer.id}:{shop.id}")


async def priced_and_held(
    session: AsyncSession, buyer: User, shop: Shop, sku_public_ids: list[str]
) -> tuple[dict[str, stock.Purchasable], Holdings]:
    """The shop's SKUs by public id (as `stock.purchasables`) and, in the same statement,
    what the buyer's unpaid orders hold. Call it after `one_checkout_at_a_time`."""
    # The subqueries' `shop_id` is the SKU read's own parameter: the same shop.
    rows = await stock.purchasable_rows(
        session, shop.id, sku_public_ids, also=_HOLDINGS, params={"buyer_id": buyer.id}
    )
    found = {}
    units = {}
    for row in rows:
        item = stock.purchasable_of(row)
        found[item.public_id] = item
        units[item.sku_id] = int(row.units_held)
    if not rows:  # nothing to sell: the order is refused for that, whatever it holds
        return found, Holdings(0, None, units)
    return found, Holdings(int(rows[0].unpaid_orders), rows[0].oldest, units)


async def orders_held(session: AsyncSession, buyer: User, shop: Shop) -> Holdings:
    """What the buyer's unpaid orders in the shop hold, counting orders only (an order for an
    amount holds no stock). Call it after `one_checkout_at_a_time`."""
    count, oldest = (
        await session.execute(_ORDERS_HELD, {"buyer_id": buyer.id, "shop_id": shop.id})
    ).one()
    return Holdings(int(count), oldest, {})


def check(settings: Settings, held: Holdings, units: list[tuple[stock.Purchasable, int]]) -> None:
    """Refuse a new order beyond the limits: too many unpaid orders (429, until the oldest
    times out), too many units of one SKU waiting for payment, the new order's included
    (409)."""
    if held.orders >= settings.max_unpaid_orders_per_shop and held.oldest_pay_by is not None:
        seconds = max(1, math.ceil((held.oldest_pay_by - clock.now()).total_seconds()))
        raise TooManyRequests(
            _(
                "You have too many unpaid orders in this shop (at most %(max)s). Pay for or "
                "cancel one of them to place a new order, or wait %(minutes)s min until the "
                "oldest one closes.",
                max=settings.max_unpaid_orders_per_shop,
                minutes=math.ceil(seconds / 60),
            ),
            retry_after=seconds,
            code="too_many_unpaid_orders",
        )
    most = settings.max_unpaid_units_per_sku
    for item, quantity in units:
        already = held.units.get(item.sku_id, 0)
        if already + quantity <= most:
            continue
        if already:
            message = _(
                "Your unpaid orders in this shop already hold %(held)s of “%(title)s”, and at "
                "most %(max)s can wait for payment. Pay for or cancel one of them, or order "
                "fewer.",
                held=already,
                title=item.title,
                max=most,
            )
        else:
            message = _(
                "At most %(max)s of “%(title)s” can wait for payment at once: order fewer.",
                title=item.title,
                max=most,
            )
        raise Conflict(message, code="too_many_unpaid_units")
