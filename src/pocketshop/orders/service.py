"""Orders: the state machine, the order's lock, and the reads for buyer and shop.

The state machine is one table of allowed (from, to) transitions and who may make them. Each
transition is a conditional UPDATE on the current status (whoever loses a race gets 409 and
changes nothing) plus an event row. Stock goes back only after winning the move to `closed`,
so a buyer's cancel racing the unpaid timeout releases it once.

Moving an order moves no money: what a person or a job does to an order, money included, is
in `orders.actions`, which calls the money path (`payments.escrow`) explicitly.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pocketshop import clock, db, moves
from pocketshop.accounts.models import User
from pocketshop.catalog import stock
from pocketshop.config import Settings
from pocketshop.db import table_of
from pocketshop.errors import Conflict, NotFound
from pocketshop.i18n import N_, _
from pocketshop.orders.models import Order, OrderEvent, OrderLine
from pocketshop.shops.models import Shop

MAX_LINES = 50
MAX_QUANTITY = 999
MAX_TOTAL = 10**9
NOTE_MAX = 200
# The buyer is told this long before receipt is confirmed for them.
REMINDER = timedelta(days=1)


class OrderStatus(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    partially_shipped = "partially_shipped"
    shipped = "shipped"
    completed = "completed"
    closed = "closed"


class OrderSource(StrEnum):
    checkout = "checkout"
    payment_request = "payment_request"


class Actor(StrEnum):
    buyer = "buyer"
    merchant = "merchant"
    system = "system"


class CloseReason(StrEnum):
    buyer_cancelled = "buyer_cancelled"
    merchant_cancelled = "merchant_cancelled"
    unpaid_timeout = "unpaid_timeout"
    refunded = "refunded"
    # The payment request it came from was paid by another order, or cancelled.
    request_closed = "request_closed"


# One status, or several (the console's "to ship" tab: paid and partly shipped).
StatusFilter = OrderStatus | tuple[OrderStatus, ...] | None
AWAITING_SHIPMENT = (OrderStatus.paid, OrderStatus.partially_shipped)

STATUS_LABELS = {
    OrderStatus.pending_payment: N_("Awaiting payment"),
    OrderStatus.paid: N_("Paid, awaiting shipment"),
    OrderStatus.partially_shipped: N_("Partly shipped"),
    OrderStatus.shipped: N_("Shipped"),
    OrderStatus.completed: N_("Completed"),
    OrderStatus.closed: N_("Closed"),
}

CLOSE_REASON_LABELS = {
    CloseReason.buyer_cancelled: N_("Cancelled by the buyer"),
    CloseReason.merchant_cancelled: N_("Cancelled by the shop"),
    CloseReason.unpaid_timeout: N_("Not paid in time"),
    CloseReason.refunded: N_("Refunded in full"),
    CloseReason.request_closed: N_("The payment request was paid or cancelled"),
}

S = OrderStatus
# (from, to) -> who may make the move.
TRANSITIONS: dict[tuple[OrderStatus, OrderStatus], frozenset[Actor]] = {
    (S.pending_payment, S.paid): frozenset({Actor.system}),
    (S.pending_payment, S.closed): frozenset({Actor.buyer, Actor.merchant, Actor.system}),
    # Cancelling a paid order, before anything is shipped, refunds it in full (payments).
    (S.paid, S.closed): frozenset({Actor.buyer, Actor.merchant, Actor.system}),
    # Refunded in full after shipping started: the system closes it.
    (S.partially_shipped, S.closed): frozenset({Actor.system}),
    (S.shipped, S.closed): frozenset({Actor.system}),
    (S.paid, S.partially_shipped): frozenset({Actor.merchant}),
    # The system: an order without delivery (a service or a fee), once paid, waits for the
    # buyer's confirmation as a shipped one does (await_confirmation).
    (S.paid, S.shipped): frozenset({Actor.merchant, Actor.system}),
    # The system: the rest was refunded before it was shipped (after-sales).
    (S.partially_shipped, S.shipped): frozenset({Actor.merchant, Actor.system}),
    (S.shipped, S.completed): frozenset({Actor.buyer, Actor.system}),
    # Every line went back through after-sales.
    (S.completed, S.closed): frozenset({Actor.system}),
}


_orders = table_of(Order)
_events = table_of(OrderEvent)


def status_label(status: str) -> str:
    return _(STATUS_LABELS[OrderStatus(status)])


def label_of(order: Order, status: str | None = None) -> str:
    """An order's status (or `status`, one it went through) as people read it: a no-delivery
    order once paid waits for the buyer's confirmation, not for a parcel (it is `shipped` so
    the receipt timers run as for any order)."""
    status = status or order.status
    if order.no_delivery and status == OrderStatus.shipped:
        return _("Awaiting confirmation")
    return status_label(status)


async def transition(
    session: AsyncSession,
    order: Order,
    to: OrderStatus,
    *,
    actor: Actor,
    user_id: int | None = None,
    reason: str = "",
    values: dict[str, Any] | None = None,
) -> Order:
    """Move an order along the table, or raise 409 and change nothing."""
    current = OrderStatus(order.status)
    allowed = TRANSITIONS.get((current, to))
    if allowed is None or actor not in allowed:
        raise Conflict(
            _(
                "This order is “%(current)s”; that cannot be done now.",
                current=_(STATUS_LABELS[current]),
            ),
            code="invalid_transition",
        )
    changes = {"status": to.value, **(values or {})}
    moved = await moves.move(
        session,
        _orders,
        order.id,
        current.value,
        changes,
        events=_events,
        subject_column="order_id",
        event={
            "shop_id": order.shop_id,
            "from_status": current.value,
            "to_status": to.value,
            "actor": actor.value,
            "actor_user_id": user_id,
            "reason": reason,
            "created_at": clock.now(),
        },
    )
    if not moved:
        raise Conflict(
            _("This order changed meanwhile. Reload and try again."), code="order_changed"
        )
    for name, value in changes.items():
        set_committed_value(order, name, value)  # as written: no second UPDATE at flush
    return order


# --- moving an order along --------------------------------------------------------------------


async def close(
    session: AsyncSession,
    order: Order,
    *,
    actor: Actor,
    reason: CloseReason,
    user_id: int | None = None,
) -> Order:
    """Close the order (409 when it cannot be now) and put back the stock it still holds."""
    await transition(
        session,
        order,
        OrderStatus.closed,
        actor=actor,
        user_id=user_id,
        reason=reason.value,
        values={
            "closed_at": clock.now(),
            "close_reason": reason.value,
            "pay_by": None,
            "remind_at": None,
        },
    )
    # Only the winner of the conditional move above gets here: stock goes back once, what
    # was not shipped of it (a typed amount has none).
    for line in await lines_of(session, order):
        if line.sku_id and line.product_id and unshipped(line):
            await stock.release(session, line.sku_id, line.product_id, unshipped(line))
    return order


def unshipped(line: OrderLine) -> int:
    """Units still to ship: neither shipped nor refunded before shipment."""
    return line.quantity - line.shipped_quantity - line.cancelled_quantity


def refuse_while_aftersales(order: Order) -> None:
    """Cancelling or refunding an order is its after-sales case's business while one is open."""
    if order.aftersales_open:
        raise Conflict(
            _("An after-sales case is open on this order: answer it instead."),
            code="aftersales_open",
        )


async def close_refunded(session: AsyncSession, order: Order) -> Order:
    """Called by the money path when an order not yet received was refunded in full."""
    return await close(session, order, actor=Actor.system, reason=CloseReason.refunded)


async def mark_paid(session: AsyncSession, order: Order, *, reason: str = "") -> Order:
    """Called by the money path once the money is in escrow."""
    return await transition(
        session,
        order,
        OrderStatus.paid,
        actor=Actor.system,
        reason=reason,
        values={"paid_at": clock.now(), "pay_by": None},
    )


def received_by(settings: Settings, now: datetime) -> dict[str, datetime]:
    """When receipt is confirmed for the buyer of an order shipped in full (or, without
    delivery, paid), and when they are reminded of it."""
    confirm_at = now + timedelta(days=settings.auto_confirm_days)
    return {"auto_confirm_at": confirm_at, "remind_at": confirm_at - REMINDER}


async def await_confirmation(session: AsyncSession, settings: Settings, order: Order) -> Order:
    """An order without delivery was paid (its lock held): nothing to ship, it waits for the
    buyer's confirmation, confirmed for them after the usual delay (the receipt sweep)."""
    return await transition(
        session,
        order,
        OrderStatus.shipped,
        actor=Actor.system,
        reason="no_delivery",
        values=received_by(settings, clock.now()),
    )


async def complete(
    session: AsyncSession, order: Order, *, actor: Actor, reason: str, user_id: int | None = None
) -> Order:
    """Receipt confirmed (by the buyer, or for them when it was due)."""
    return await transition(
        session,
        order,
        OrderStatus.completed,
        actor=actor,
        user_id=user_id,
        reason=reason,
        values={"completed_at": clock.now(), "auto_confirm_at": None, "remind_at": None},
    )


def unpaid_due(order: Order) -> bool:
    """Waiting for payment past its deadline: the unpaid timeout closes it."""
    return (
        order.status == OrderStatus.pending_payment
        and order.pay_by is not None
        and order.pay_by <= clock.now()
    )


def receipt_due(order: Order) -> bool:
    """Shipped long enough ago that receipt is confirmed for the buyer."""
    return (
        order.status == OrderStatus.shipped
        and order.auto_confirm_at is not None
        and order.auto_confirm_at <= clock.now()
    )


# --- the order's lock -------------------------------------------------------------------------


def _lock_of(order_id: int) -> tuple[str, int]:
    return ("order", order_id)


async def lock(session: AsyncSession, order_id: int) -> Order:
    """The order, read as committed now and locked until the transaction ends: whoever moves
    an order's money takes this first (see payments.escrow). Taken once: asked again in the
    same transaction, the order as held."""
    locked_before: Order | None = db.held(session, _lock_of(order_id))
    if locked_before is not None:
        return locked_before
    return hold(
        session,
        (
            await session.scalars(
                db.for_update(session, select(Order).where(Order.id == order_id)),
                execution_options={"populate_existing": True},
            )
        ).one(),
    )


def hold(session: AsyncSession, order: Order) -> Order:
    """Count as locked an order a statement read FOR UPDATE itself (joined to another row
    it reads, `db.for_update(..., of=Order)`)."""
    db.note_held(session, _lock_of(order.id), order)
    return order


async def lock_for_buyer_or_404(session: AsyncSession, buyer: User, number: str) -> Order:
    order = await session.scalar(
        db.for_update(session, _BUYERS_ORDER),
        {"number": number, "buyer_id": buyer.id},
        execution_options={"populate_existing": True},
    )
    if order is None:
        raise not_found()
    return hold(session, order)


async def lock_for_shop_or_404(session: AsyncSession, shop: Shop, number: str) -> Order:
    order = await session.scalar(
        db.for_update(
            session, select(Order).where(Order.number == number, Order.shop_id == shop.id)
        ),
        execution_options={"populate_existing": True},
    )
    if order is None:
        raise shop_order_not_found()
    return hold(session, order)


# --- reads ------------------------------------------------------------------------------------


async def get(session: AsyncSession, order_id: int, *, fresh: bool = False) -> Order:
    """An order by its internal id, for other domains acting on it; `fresh` reads it again
    (another transaction may have moved it)."""
    return await session.get_one(Order, order_id, populate_existing=fresh)


async def numbers(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    """Order numbers by internal id, in one query (statements and lists name orders)."""
    if not ids:
        return {}
    rows = await session.execute(select(Order.id, Order.number).where(Order.id.in_(ids)))
    return {order_id: number for order_id, number in rows}


_BUYERS_ORDER = select(Order).where(
    Order.number == bindparam("number"), Order.buyer_id == bindparam("buyer_id")
)


async def get_for_buyer_or_404(session: AsyncSession, buyer: User, number: str) -> Order:
    order = await session.scalar(_BUYERS_ORDER, {"number": number, "buyer_id": buyer.id})
    if order is None:
        raise not_found()
    return order


def not_found() -> NotFound:
    """No such order, or not the buyer's: told apart by nobody."""
    return NotFound(_("No such order."), code="order_not_found")


async def get_for_shop_or_404(session: AsyncSession, shop: Shop, number: str) -> Order:
    order = await session.scalar(
        select(Order).where(Order.number == number, Order.shop_id == shop.id)
    )
    if order is None:
        raise shop_order_not_found()
    return order


def shop_order_not_found() -> NotFound:
    return NotFound(_("No such order in your shop."), code="order_not_found")


async def lines_of(session: AsyncSession, order: Order) -> list[OrderLine]:
    return list(
        await session.scalars(
            select(OrderLine)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.position, OrderLine.id)
        )
    )


async def events_of(session: AsyncSession, order: Order) -> list[OrderEvent]:
    return list(
        await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
    )


async def lines_by_order(session: AsyncSession, orders: list[Order]) -> dict[int, list[OrderLine]]:
    """The lines of many orders in one query (lists show them without N+1)."""
    grouped: dict[int, list[OrderLine]] = {order.id: [] for order in orders}
    if not orders:
        return grouped
    for line in await session.scalars(
        select(OrderLine)
        .where(OrderLine.order_id.in_(list(grouped)))
        .order_by(OrderLine.order_id, OrderLine.position, OrderLine.id)
    ):
        grouped[line.order_id].append(line)
    return grouped


def may(order: Order, to: OrderStatus, actor: Actor) -> bool:
    """Whether `actor` may move the order to `to` now: pages offer only the buttons that work."""
    return actor in TRANSITIONS.get((OrderStatus(order.status), to), frozenset())


async def has_bought(session: AsyncSession, buyer_id: int) -> bool:
    """Whether the buyer has placed an order, paid or not."""
    return (
        await session.scalar(select(Order.id).where(Order.buyer_id == buyer_id).limit(1))
        is not None
    )


async def move_sharer(session: AsyncSession, from_id: int, into_id: int) -> None:
    """One person's two accounts become one: orders placed through links `from_id` shared
    count for `into_id`."""
    await session.execute(
        update(Order)
        .where(Order.referral_sharer_id == from_id)
        .values(referral_sharer_id=into_id)
        .execution_options(synchronize_session=False)
    )
