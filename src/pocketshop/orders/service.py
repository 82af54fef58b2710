"""Orders: creation with stock reserved, the state machine, and the reads for buyer and shop.

The state machine is one table of allowed (from, to) transitions and who may make them. Each
transition is a conditional UPDATE on the current status (whoever loses a race gets 409 and
changes nothing) plus an event row. Stock goes back only after winning the move to `closed`,
so a buyer's cancel racing the unpaid timeout releases it once.
"""

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.catalog import stock
from pocketshop.catalog.service import spec_text
from pocketshop.config import Settings
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.orders import addresses, placement, shipping_fees
from pocketshop.orders.models import CartItem, Order, OrderEvent, OrderLine, new_public_id
from pocketshop.shops.models import Shop

MAX_LINES = 50
MAX_QUANTITY = 999
MAX_TOTAL = 10**9
NOTE_MAX = 200


class OrderStatus(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    partially_shipped = "partially_shipped"
    shipped = "shipped"
    completed = "completed"
    closed = "closed"


class Actor(StrEnum):
    buyer = "buyer"
    merchant = "merchant"
    system = "system"


class CloseReason(StrEnum):
    buyer_cancelled = "buyer_cancelled"
    merchant_cancelled = "merchant_cancelled"
    unpaid_timeout = "unpaid_timeout"
    refunded = "refunded"


# Other domains act on an order's moves in the same transaction: payments releases escrow at
# receipt and refunds a closed paid order. They are given to the database at start-up
# (`Database.session_info`), so orders imports none of them.
TransitionHook = Callable[[AsyncSession, Order, OrderStatus, OrderStatus], Awaitable[None]]
HOOKS_KEY = "order_transition_hooks"

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
    (S.paid, S.shipped): frozenset({Actor.merchant}),
    (S.partially_shipped, S.shipped): frozenset({Actor.merchant}),
    (S.shipped, S.completed): frozenset({Actor.buyer, Actor.system}),
}


@dataclass(frozen=True)
class LineRequest:
    sku_id: str
    quantity: int


@dataclass(frozen=True)
class CreatedOrder:
    order: Order
    replayed: bool
    # A new order's lines and first event, so its answer needs no reading back (a replay
    # leaves them empty: read them).
    lines: list[OrderLine] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)


def status_label(status: str) -> str:
    return _(STATUS_LABELS[OrderStatus(status)])


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
    result = await session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == current.value)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            _("This order changed meanwhile. Reload and try again."), code="order_changed"
        )
    for name, value in changes.items():
        set_committed_value(order, name, value)  # as written: no second UPDATE at flush
    session.add(
        OrderEvent(
            order_id=order.id,
            shop_id=order.shop_id,
            from_status=current.value,
            to_status=to.value,
            actor=actor.value,
            actor_user_id=user_id,
            reason=reason,
            created_at=clock.now(),
        )
    )
    await session.flush()
    for hook in session.info.get(HOOKS_KEY, ()):
        await hook(session, order, current, to)
    return order


# --- creating an order ------------------------------------------------------------------------


def _request_hash(shop: Shop, lines: list[LineRequest], address: object, note: str) -> str:
    canonical = json.dumps(
        {
            "shop": shop.id,
            "lines": [[line.sku_id, line.quantity] for line in lines],
            "address": address,
            "note": note,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# Built once: order creation is the busiest write path (see placement).
_ORDER_FOR_KEY = select(Order).where(
    Order.buyer_id == bindparam("buyer_id"), Order.idempotency_key == bindparam("key")
)


def new_number(shop: Shop) -> str:
    """The shop's local date and 12 random digits: readable, unique with a retry, unguessable."""
    day = clock.now().astimezone(ZoneInfo(shop.timezone)).strftime("%Y%m%d")
    return f"{day}{secrets.randbelow(10**12):012d}"


def _merge_lines(lines: list[LineRequest]) -> list[LineRequest]:
    if not lines:
        raise InvalidInput(_("Your cart is empty."), code="cart_empty", field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(
            _("An order can have at most %(max)s lines.", max=MAX_LINES),
            code="too_many_lines",
            field="lines",
        )
    merged: dict[str, int] = {}
    for line in lines:
        if type(line.quantity) is not int or not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidInput(
                _("A quantity must be a whole number from 1 to %(max)s.", max=MAX_QUANTITY),
                code="invalid_quantity",
                field="quantity",
            )
        merged[line.sku_id] = merged.get(line.sku_id, 0) + line.quantity
    if any(quantity > MAX_QUANTITY for quantity in merged.values()):
        raise InvalidInput(
            _("A quantity must be a whole number from 1 to %(max)s.", max=MAX_QUANTITY),
            code="invalid_quantity",
            field="quantity",
        )
    return [LineRequest(sku_id, quantity) for sku_id, quantity in merged.items()]


async def _existing_for_key(session: AsyncSession, buyer: User, key: str) -> Order | None:
    return await session.scalar(_ORDER_FOR_KEY, {"buyer_id": buyer.id, "key": key})


def _replay(order: Order, request_hash: str) -> CreatedOrder:
    if order.request_hash != request_hash:
        raise InvalidInput(
            _("This Idempotency-Key was used for a different order."),
            code="idempotency_key_reused",
        )
    return CreatedOrder(order=order, replayed=True)


async def create(
    session: AsyncSession,
    settings: Settings,
    buyer: User,
    shop: Shop,
    *,
    lines: list[LineRequest],
    address: addresses.AddressInput | None = None,
    address_id: str | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    from_cart: bool = False,
) -> CreatedOrder:
    """Price on the server, reserve stock, and open the order awaiting payment.

    A refusal can come after stock was taken for earlier lines: a caller that goes on after
    an error (a page showing it) runs this in a savepoint (`session.begin_nested()`); the
    API lets the error roll the whole request back.
    """
    clean_note = addresses.clean(note)
    request_hash = None
    if idempotency_key is not None:
        # The request as sent: a cart checkout names no lines, so its retry still replays
        # after the first attempt emptied the cart.
        request_hash = _request_hash(
            shop, [] if from_cart else lines, address or address_id, clean_note
        )
        existing = await _existing_for_key(session, buyer, idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash)
    merged = _merge_lines(lines)
    if len(clean_note) > NOTE_MAX:
        raise InvalidInput(
            _("The note can have at most %(max)s characters.", max=NOTE_MAX),
            code="note_too_long",
            field="note",
        )
    if (address is None) == (address_id is None):
        raise InvalidInput(_("Choose a delivery address."), code="address_required")
    destination = (
        addresses.validate(address)
        if address is not None
        else await addresses.get_or_404(session, buyer, address_id or "")
    )

    found = await stock.purchasables(session, shop.id, [line.sku_id for line in merged])
    priced = []
    for line in merged:
        item = found.get(line.sku_id)
        if item is not None and item.off_shelf:
            raise Conflict(
                _("“%(title)s” is no longer on sale.", title=item.title),
                code="product_unavailable",
            )
        if item is None or not item.sellable:
            raise InvalidInput(
                _("A product in your order is not sold by this shop."),
                code="unknown_sku",
                field="lines",
            )
        priced.append((item, line.quantity))
    items_total = sum(item.price * quantity for item, quantity in priced)
    rule = await shipping_fees.rule_for(session, shop)
    fee = shipping_fees.fee(rule, items_total)
    total = items_total + fee
    if total > MAX_TOTAL:
        raise InvalidInput(
            _("An order can total at most ¥10,000,000."), code="total_too_large", field="lines"
        )

    now = clock.now()
    values = {
        "shop_id": shop.id,
        "buyer_id": buyer.id,
        "status": OrderStatus.pending_payment.value,
        "currency": "CNY",
        "items_total": items_total,
        "shipping_fee": fee,
        "total": total,
        "line_count": len(priced),
        "recipient": destination.recipient,
        "phone": destination.phone,
        "province": destination.province,
        "city": destination.city,
        "district": destination.district,
        "address_detail": destination.detail,
        "note": clean_note,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "created_at": now,
        "pay_by": now + timedelta(minutes=settings.unpaid_timeout_minutes),
    }
    line_rows = [
        {
            "public_id": new_public_id(),
            "shop_id": shop.id,
            "product_id": item.product_id,
            "sku_id": item.sku_id,
            "title": item.title,
            "spec_text": spec_text(item.spec_values),
            "image_key": item.cover_key,
            "unit_price": item.price,
            "quantity": quantity,
            "line_total": item.price * quantity,
            "shipped_quantity": 0,
            "position": position,
        }
        for position, (item, quantity) in enumerate(priced)
    ]
    event_row = {
        "shop_id": shop.id,
        "from_status": None,
        "to_status": OrderStatus.pending_payment.value,
        "actor": Actor.buyer.value,
        "actor_user_id": buyer.id,
        "reason": "",
        "created_at": now,
    }
    stored = None
    for _attempt in range(5):
        stored = await placement.store(
            session, {"number": new_number(shop), **values}, line_rows, event_row
        )
        if stored is not None:
            break
        if idempotency_key is not None and request_hash is not None:
            existing = await _existing_for_key(session, buyer, idempotency_key)
            if existing is not None:
                return _replay(existing, request_hash)
    if stored is None:
        raise Conflict(_("Please try again."), code="try_again")

    # In SKU id order, so two orders for the same SKUs on PostgreSQL never wait on each other
    # in a circle (deadlock). A refusal rolls the rows above back with the rest.
    for item, quantity in sorted(priced, key=lambda pair: pair[0].sku_id):
        if not await stock.reserve(session, item, quantity):
            raise Conflict(
                _("Sold out: “%(title)s” does not have enough left.", title=item.title),
                code="sold_out",
            )
    if from_cart:
        await session.execute(
            delete(CartItem).where(
                CartItem.user_id == buyer.id,
                CartItem.sku_id.in_([item.sku_id for item, _q in priced]),
            )
        )
    return CreatedOrder(
        order=stored.order, replayed=False, lines=stored.lines, events=[stored.event]
    )


# --- moving an order along --------------------------------------------------------------------


async def _close(
    session: AsyncSession,
    order: Order,
    *,
    actor: Actor,
    reason: CloseReason,
    user_id: int | None = None,
) -> Order:
    await transition(
        session,
        order,
        OrderStatus.closed,
        actor=actor,
        user_id=user_id,
        reason=reason.value,
        values={"closed_at": clock.now(), "close_reason": reason.value, "pay_by": None},
    )
    # Only the winner of the conditional move above gets here: stock goes back once, what
    # was not shipped of it.
    for line in await lines_of(session, order):
        if line.quantity > line.shipped_quantity:
            await stock.release(
                session, line.sku_id, line.product_id, line.quantity - line.shipped_quantity
            )
    return order


async def close_refunded(session: AsyncSession, order: Order) -> Order:
    """Called by payments when an order not yet received was refunded in full."""
    return await _close(session, order, actor=Actor.system, reason=CloseReason.refunded)


async def cancel_by_buyer(session: AsyncSession, buyer: User, number: str) -> Order:
    order = await get_for_buyer_or_404(session, buyer, number)
    return await _close(
        session, order, actor=Actor.buyer, reason=CloseReason.buyer_cancelled, user_id=buyer.id
    )


async def cancel_by_merchant(
    session: AsyncSession, shop: Shop, number: str, *, user_id: int
) -> Order:
    order = await get_for_shop_or_404(session, shop, number)
    return await _close(
        session,
        order,
        actor=Actor.merchant,
        reason=CloseReason.merchant_cancelled,
        user_id=user_id,
    )


async def close_if_unpaid(session: AsyncSession, order_id: int) -> bool:
    """The unpaid timeout of one order; False when it was paid or closed meanwhile."""
    order = await session.get(Order, order_id)
    if (
        order is None
        or order.status != OrderStatus.pending_payment
        or order.pay_by is None
        or order.pay_by > clock.now()
    ):
        return False
    try:
        await _close(session, order, actor=Actor.system, reason=CloseReason.unpaid_timeout)
    except Conflict:
        return False  # paid or cancelled a moment ago
    return True


async def mark_paid(session: AsyncSession, order: Order, *, reason: str = "") -> Order:
    """Called by payments once the money is in escrow."""
    return await transition(
        session,
        order,
        OrderStatus.paid,
        actor=Actor.system,
        reason=reason,
        values={"paid_at": clock.now(), "pay_by": None},
    )


async def confirm_receipt(session: AsyncSession, buyer: User, number: str) -> Order:
    order = await get_for_buyer_or_404(session, buyer, number)
    return await transition(
        session,
        order,
        OrderStatus.completed,
        actor=Actor.buyer,
        user_id=buyer.id,
        reason="buyer_confirmed",
        values={"completed_at": clock.now(), "auto_confirm_at": None},
    )


async def auto_confirm(session: AsyncSession, order_id: int) -> bool:
    order = await session.get(Order, order_id)
    if (
        order is None
        or order.status != OrderStatus.shipped
        or order.auto_confirm_at is None
        or order.auto_confirm_at > clock.now()
    ):
        return False
    try:
        await transition(
            session,
            order,
            OrderStatus.completed,
            actor=Actor.system,
            reason="auto_confirmed",
            values={"completed_at": clock.now(), "auto_confirm_at": None},
        )
    except Conflict:
        return False
    return True


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


async def get_for_buyer_or_404(session: AsyncSession, buyer: User, number: str) -> Order:
    order = await session.scalar(
        select(Order).where(Order.number == number, Order.buyer_id == buyer.id)
    )
    if order is None:
        raise NotFound(_("No such order."), code="order_not_found")
    return order


async def get_for_shop_or_404(session: AsyncSession, shop: Shop, number: str) -> Order:
    order = await session.scalar(
        select(Order).where(Order.number == number, Order.shop_id == shop.id)
    )
    if order is None:
        raise NotFound(_("No such order in your shop."), code="order_not_found")
    return order


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


async def placed_with_key(session: AsyncSession, buyer: User, key: str) -> Order | None:
    """The order a checkout form's one-time key already placed: a second submit of the same
    form (its cart now emptied) leads to it instead of an error."""
    return await _existing_for_key(session, buyer, key)


def may(order: Order, to: OrderStatus, actor: Actor) -> bool:
    """Whether `actor` may move the order to `to` now: pages offer only the buttons that work."""
    return actor in TRANSITIONS.get((OrderStatus(order.status), to), frozenset())
