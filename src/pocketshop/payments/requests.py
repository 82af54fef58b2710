"""Payment requests (Weidian's "invitation to pay"): the merchant picks products, or types
an amount with a note, and shares a link or QR code; the buyer opens it, gives an address,
and pays. Paying makes an ordinary order. A typed amount may be marked "no delivery" (a
service or a fee): the buyer gives no address, and once paid the order waits for the buyer's
confirmation instead of a shipment (confirmed for them after the usual delay).

Open → paid (an order from it was paid) or cancelled (by the merchant). It expires at
`expires_at`. Nobody holds it: each buyer who opens it gets an order of their own, and several
may start paying. The first order paid pays the request (one conditional UPDATE); the other
orders still waiting are closed after commit, and one paid too is refunded whole.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, outbox
from pocketshop.accounts.models import User
from pocketshop.catalog import stock
from pocketshop.config import Settings
from pocketshop.db import table_of
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.orders import addresses, checkout, shipping_fees
from pocketshop.orders import service as orders
from pocketshop.orders.checkout import CreatedOrder, LineRequest
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderSource, OrderStatus
from pocketshop.payments import escrow
from pocketshop.payments.models import PaymentRequest, PaymentRequestOrder
from pocketshop.shops.models import Shop
from pocketshop.text import too_long

# After a request is paid or cancelled: its orders still waiting for payment are closed.
CLOSE_ORDERS_TOPIC = "payments.request_orders_close"

NOTE_MAX = 60
HOURS_MAX = 30 * 24


class RequestStatus(StrEnum):
    open = "open"
    paid = "paid"
    cancelled = "cancelled"


STATUS_LABELS = {
    RequestStatus.open: N_("Waiting for payment"),
    RequestStatus.paid: N_("Paid"),
    RequestStatus.cancelled: N_("Cancelled"),
}


@dataclass(frozen=True)
class Item:
    sku_id: str
    quantity: int


@dataclass(frozen=True)
class Summary:
    """What a request asks for: what its order holds once a buyer took it; before that, its
    products priced now from the catalog with the shop's shipping fee, or the typed amount."""

    request: PaymentRequest
    lines: list[tuple[str, str, int, int]]  # title, spec, unit price, quantity
    shipping: int
    total: int
    expired: bool
    status: str


def link(base_url: str, shop: Shop, request: PaymentRequest) -> str:
    """Where the buyer opens it: what the merchant shares, and its QR code holds."""
    return f"{base_url.rstrip('/')}/s/{shop.slug}/pay/{request.public_id}"


def status_label(summary: Summary) -> str:
    if summary.expired and summary.status == RequestStatus.open:
        return _("Expired")
    return _(STATUS_LABELS[RequestStatus(summary.status)])


async def create(
    session: AsyncSession,
    shop: Shop,
    user: User,
    *,
    items: list[Item],
    amount: int | None,
    note: str,
    expires_in_hours: int = 72,
    no_delivery: bool = False,
) -> PaymentRequest:
    """Refused (422): both products and an amount, or neither; a product not on sale in
    this shop; an amount or quantity out of range; a note too long; no delivery for
    products (it is for a typed amount: a service or a fee)."""
    clean_note = addresses.clean(note)
    if too_long(clean_note, NOTE_MAX):
        raise InvalidInput(
            _("The note can have at most %(max)s characters.", max=NOTE_MAX),
            code="note_too_long",
            field="note",
        )
    if type(expires_in_hours) is not int or not 1 <= expires_in_hours <= HOURS_MAX:
        raise InvalidInput(
            _("A request lasts from 1 hour to 30 days."), code="invalid_expiry", field="expires"
        )
    if bool(items) == (amount is not None):
        raise InvalidInput(
            _("Choose products, or type an amount (not both)."), code="items_or_amount"
        )
    if no_delivery and amount is None:
        raise InvalidInput(
            _("“No delivery” is for a typed amount (a service or a fee), not for products."),
            code="no_delivery_needs_amount",
            field="no_delivery",
        )
    if amount is not None:
        checkout.check_amount(amount)
        if not clean_note:
            raise InvalidInput(
                _("Say what the amount is for: the buyer sees it."),
                code="note_required",
                field="note",
            )
    else:
        items = await _checked(session, shop, items)
    now = clock.now()
    request = PaymentRequest(
        shop_id=shop.id,
        created_by=user.id,
        items=[{"sku_id": item.sku_id, "quantity": item.quantity} for item in items],
        amount=amount,
        note=clean_note,
        status=RequestStatus.open.value,
        expires_at=now + timedelta(hours=expires_in_hours),
        created_at=now,
        no_delivery=no_delivery,
    )
    session.add(request)
    await session.flush()
    return request


async def _checked(session: AsyncSession, shop: Shop, items: list[Item]) -> list[Item]:
    """The products asked for, one line per SKU, each on sale in this shop (else 422)."""
    lines = checkout.merge_lines([LineRequest(item.sku_id, item.quantity) for item in items])
    found = await stock.purchasables(session, shop.id, [line.sku_id for line in lines])
    if any(line.sku_id not in found or not found[line.sku_id].sellable for line in lines):
        raise InvalidInput(
            _("A product in your order is not sold by this shop."),
            code="unknown_sku",
            field="items",
        )
    return [Item(line.sku_id, line.quantity) for line in lines]


async def summaries(session: AsyncSession, shop: Shop, made: list[PaymentRequest]) -> list[Summary]:
    """Each request's summary, reading the catalog and the orders once for them all."""
    taken = [one.order_id for one in made if one.order_id is not None]
    held = list(await session.scalars(select(Order).where(Order.id.in_(taken)))) if taken else []
    lines_of = await orders.lines_by_order(session, held)
    orders_by_id = {order.id: order for order in held}
    skus = await stock.purchasables(
        session,
        shop.id,
        [item["sku_id"] for one in made if one.order_id is None for item in one.items],
    )
    rule = await shipping_fees.rule_for(session, shop)
    now = clock.now()
    found = []
    for one in made:
        order = orders_by_id.get(one.order_id or 0)
        if order is not None:
            lines = [
                (line.title, line.spec_text, line.unit_price, line.quantity)
                for line in lines_of.get(order.id, [])
            ]
            shipping, total = order.shipping_fee, order.total
        else:
            lines = _priced(one, skus)
            items_total = sum(price * quantity for _t, _s, price, quantity in lines)
            shipping = 0 if one.amount is not None else shipping_fees.fee(rule, items_total)
            total = items_total + shipping
        found.append(Summary(one, lines, shipping, total, one.expires_at <= now, one.status))
    return found


def _priced(
    request: PaymentRequest, skus: dict[str, stock.Purchasable]
) -> list[tuple[str, str, int, int]]:
    if request.amount is not None:
        return [(request.note, "", request.amount, 1)]
    return [
        (sku.title, " · ".join(sku.spec_values), sku.price, int(item["quantity"]))
        for item in request.items
        if (sku := skus.get(item["sku_id"])) is not None
    ]


async def summary(session: AsyncSession, shop: Shop, request: PaymentRequest) -> Summary:
    return (await summaries(session, shop, [request]))[0]


async def get_for_shop_or_404(session: AsyncSession, shop: Shop, public_id: str) -> PaymentRequest:
    found = await session.scalar(
        select(PaymentRequest).where(
            PaymentRequest.public_id == public_id, PaymentRequest.shop_id == shop.id
        )
    )
    if found is None:
        raise NotFound(_("No such payment request."), code="payment_request_not_found")
    return found


async def of_shop(session: AsyncSession, shop: Shop, *, limit: int = 50) -> list[PaymentRequest]:
    return list(
        await session.scalars(
            select(PaymentRequest)
            .where(PaymentRequest.shop_id == shop.id)
            .order_by(PaymentRequest.id.desc())
            .limit(limit)
        )
    )


async def cancel(session: AsyncSession, shop: Shop, user: User, public_id: str) -> PaymentRequest:
    """No more paying it: the orders buyers opened from it and have not paid close (after
    commit). Refused once paid (409); cancelling twice changes nothing."""
    request = await get_for_shop_or_404(session, shop, public_id)
    if request.status == RequestStatus.cancelled:
        return request
    _refuse_unless_open(request)
    # Conditional: of a cancel and a payment at once, one wins (the payment's order is then
    # refunded: see order_paid).
    result = await session.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request.id, PaymentRequest.status == RequestStatus.open.value)
        .values(status=RequestStatus.cancelled.value)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _paid()
    outbox.enqueue(session, CLOSE_ORDERS_TOPIC, {"request_id": request.id})
    await session.refresh(request)
    return request


def _paid() -> Conflict:
    return Conflict(_("This payment request has been paid."), code="request_paid")


def _refuse_unless_open(request: PaymentRequest) -> None:
    if request.status == RequestStatus.paid:
        raise _paid()
    if request.status == RequestStatus.cancelled:
        raise Conflict(_("The shop cancelled this payment request."), code="request_cancelled")


async def take(
    session: AsyncSession,
    settings: Settings,
    buyer: User,
    shop: Shop,
    public_id: str,
    *,
    address: addresses.AddressInput | None = None,
    address_id: str | None = None,
) -> Order:
    """The buyer's order from a request: the one they opened before and have not paid yet,
    or a new one. Refused: paid, cancelled or expired (409)."""
    request = await get_for_shop_or_404(session, shop, public_id)
    _refuse_unless_open(request)
    if request.expires_at <= clock.now():
        raise Conflict(_("This payment request has expired."), code="request_expired")
    waiting = await session.scalar(
        select(Order)
        .join(PaymentRequestOrder, PaymentRequestOrder.order_id == Order.id)
        .where(
            PaymentRequestOrder.request_id == request.id,
            PaymentRequestOrder.buyer_id == buyer.id,
            Order.status == OrderStatus.pending_payment.value,
        )
        .limit(1)
    )
    if waiting is not None:
        return waiting  # theirs already: go on paying it
    created = await _order(session, settings, buyer, shop, request, address, address_id)
    session.add(
        PaymentRequestOrder(
            request_id=request.id,
            order_id=created.order.id,
            buyer_id=buyer.id,
            created_at=clock.now(),
        )
    )
    await session.flush()
    return created.order


async def _order(
    session: AsyncSession,
    settings: Settings,
    buyer: User,
    shop: Shop,
    request: PaymentRequest,
    address: addresses.AddressInput | None,
    address_id: str | None,
) -> CreatedOrder:
    if request.amount is not None:
        return await checkout.create_for_amount(
            session,
            settings,
            buyer,
            shop,
            title=request.note,
            amount=request.amount,
            address=None if request.no_delivery else address,
            address_id=None if request.no_delivery else address_id,
            no_delivery=request.no_delivery,
        )
    return await checkout.create(
        session,
        settings,
        buyer,
        shop,
        lines=[LineRequest(item["sku_id"], int(item["quantity"])) for item in request.items],
        address=address,
        address_id=address_id,
        source=OrderSource.payment_request,
    )


_requests = table_of(PaymentRequest)
# Run for every paid order from a request: built once.
_PAID = (
    update(_requests)
    .where(
        _requests.c.id == bindparam("request_id"),
        _requests.c.status == RequestStatus.open.value,
    )
    .values(
        status=RequestStatus.paid.value,
        order_id=bindparam("paid_order"),
        buyer_id=bindparam("buyer"),
        paid_at=bindparam("at"),
    )
)


async def _request_of(session: AsyncSession, order: Order) -> PaymentRequest | None:
    return await session.scalar(
        select(PaymentRequest)
        .join(PaymentRequestOrder, PaymentRequestOrder.request_id == PaymentRequest.id)
        .where(PaymentRequestOrder.order_id == order.id)
    )


async def check_payable(session: AsyncSession, order: Order) -> None:
    """An order from a request that was paid by another order, or cancelled, is not paid
    (409)."""
    request = await _request_of(session, order)
    if request is not None:
        _refuse_unless_open(request)


async def order_paid(session: AsyncSession, settings: Settings, order: Order) -> None:
    """An order from a request was paid (its lock held): the first pays the request, and the
    others still waiting are closed after commit (an order without delivery then waits for
    the buyer's confirmation); one paid after the request was paid or cancelled is refunded
    whole (and so closed)."""
    request = await _request_of(session, order)
    if request is None:
        return
    result = await session.execute(
        _PAID,
        {
            "request_id": request.id,
            "paid_order": order.id,
            "buyer": order.buyer_id,
            "at": clock.now(),
        },
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        outbox.enqueue(session, CLOSE_ORDERS_TOPIC, {"request_id": request.id})
        if order.no_delivery:
            await orders.await_confirmation(session, settings, order)
        return
    await escrow.refund(
        session,
        settings,
        order.id,
        amount=order.total,
        requested_by="system",
        reason="request_already_paid",
    )


async def waiting_orders(session: AsyncSession, request_id: int) -> list[int]:
    """The orders from a request still waiting for payment."""
    return list(
        await session.scalars(
            select(Order.id)
            .join(PaymentRequestOrder, PaymentRequestOrder.order_id == Order.id)
            .where(
                PaymentRequestOrder.request_id == request_id,
                Order.status == OrderStatus.pending_payment.value,
            )
        )
    )
