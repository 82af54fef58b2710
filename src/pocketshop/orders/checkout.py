"""Placing an order: priced on the server from the catalog, refused beyond what one buyer's
unpaid orders may hold in a shop, rows written (placement), stock reserved, retried safely
with an Idempotency-Key. An order for a typed amount (a payment request) has one line and no
stock."""

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.accounts.service import require_phone
from pocketshop.attribution import bindings
from pocketshop.catalog import stock
from pocketshop.catalog.service import spec_text
from pocketshop.config import Settings
from pocketshop.customers import privileges
from pocketshop.errors import Conflict, InvalidInput
from pocketshop.i18n import _
from pocketshop.money import Money
from pocketshop.orders import addresses, limits, placement, shipping_fees
from pocketshop.orders.models import (
    Address,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    new_public_id,
)
from pocketshop.orders.service import (
    MAX_LINES,
    MAX_QUANTITY,
    MAX_TOTAL,
    NOTE_MAX,
    Actor,
    OrderSource,
    OrderStatus,
)
from pocketshop.shops.models import Shop
from pocketshop.text import too_long


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


def merge_lines(lines: list[LineRequest]) -> list[LineRequest]:
    """One line per SKU, quantities added up; refused (422): none, too many, a quantity out
    of range."""
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


async def _destination(
    session: AsyncSession,
    buyer: User,
    address: addresses.AddressInput | None,
    address_id: str | None,
) -> addresses.AddressInput | Address:
    if (address is None) == (address_id is None):
        raise InvalidInput(_("Choose a delivery address."), code="address_required")
    if address is not None:
        return addresses.validate(address)
    return await addresses.get_or_404(session, buyer, address_id or "")


def _clean_note(note: str) -> str:
    clean = addresses.clean(note)
    if too_long(clean, NOTE_MAX):
        raise InvalidInput(
            _("The note can have at most %(max)s characters.", max=NOTE_MAX),
            code="note_too_long",
            field="note",
        )
    return clean


def _order_row(
    settings: Settings,
    shop: Shop,
    buyer: User,
    destination: addresses.AddressInput | Address,
    *,
    items_total: int,
    fee: int,
    line_count: int,
    note: str,
    source: OrderSource,
    referral: dict[str, Any],
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> dict[str, Any]:
    total = items_total + fee
    if total > MAX_TOTAL:
        raise InvalidInput(
            _("An order can total at most ¥10,000,000."), code="total_too_large", field="lines"
        )
    now = clock.now()
    return {
        "shop_id": shop.id,
        "buyer_id": buyer.id,
        "status": OrderStatus.pending_payment.value,
        "currency": "CNY",
        "items_total": items_total,
        "shipping_fee": fee,
        "total": total,
        "line_count": line_count,
        "recipient": destination.recipient,
        "phone": destination.phone,
        "province": destination.province,
        "city": destination.city,
        "district": destination.district,
        # An address with names only (older ones) gives the province's code from its name.
        "province_code": addresses.province_code_of(destination),
        "city_code": destination.city_code or None,
        "district_code": destination.district_code or None,
        "address_detail": destination.detail,
        "note": note,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "created_at": now,
        "pay_by": now + timedelta(minutes=settings.unpaid_timeout_minutes),
        "source": source.value,
        **referral,
    }


def _first_event(order: dict[str, Any], buyer: User) -> dict[str, Any]:
    return {
        "shop_id": order["shop_id"],
        "from_status": None,
        "to_status": OrderStatus.pending_payment.value,
        "actor": Actor.buyer.value,
        "actor_user_id": buyer.id,
        "reason": "",
        "created_at": order["created_at"],
    }


async def _store(
    session: AsyncSession,
    shop: Shop,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    event: dict[str, Any],
) -> placement.Stored | None:
    """The rows, under a fresh number; None when the caller's key placed an order already,
    or five numbers in a row were taken."""
    key = {"buyer_id": order["buyer_id"], "key": order["idempotency_key"]}
    for _attempt in range(5):
        stored = await placement.store(session, {"number": new_number(shop), **order}, lines, event)
        if stored is not None:
            return stored
        if key["key"] is not None and await session.scalar(_ORDER_FOR_KEY, key) is not None:
            return None
    return None


def _created(stored: placement.Stored) -> CreatedOrder:
    return CreatedOrder(
        order=stored.order, replayed=False, lines=stored.lines, events=[stored.event]
    )


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
    source: OrderSource = OrderSource.checkout,
) -> CreatedOrder:
    """Price on the server, reserve stock, and open the order awaiting payment.

    A refusal can come after stock was taken for earlier lines: a caller that goes on after
    an error (a page showing it) runs this in a savepoint (`session.begin_nested()`); the
    API lets the error roll the whole request back.
    """
    require_phone(buyer)
    await limits.one_checkout_at_a_time(session, buyer, shop)
    request_hash = None
    if idempotency_key is not None:
        # The request as sent: a cart checkout names no lines, so its retry still replays
        # after the first attempt emptied the cart.
        request_hash = _request_hash(
            shop, [] if from_cart else lines, address or address_id, addresses.clean(note)
        )
        existing = await _existing_for_key(session, buyer, idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash)
    merged = merge_lines(lines)
    clean_note = _clean_note(note)
    destination = await _destination(session, buyer, address, address_id)

    found, held = await limits.priced_and_held(
        session, buyer, shop, [line.sku_id for line in merged]
    )
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
    offers = await privileges.offers_for(
        session, shop.id, buyer.id, {item.sku_id: item.price for item, _q in priced}
    )

    def price_of(item: stock.Purchasable) -> int:
        offer = offers.get(item.sku_id)
        return offer.price if offer is not None else item.price

    items_total = sum(price_of(item) * quantity for item, quantity in priced)
    rule = await shipping_fees.rule_for(session, shop)
    order = _order_row(
        settings,
        shop,
        buyer,
        destination,
        items_total=items_total,
        fee=shipping_fees.fee_to(rule, items_total, addresses.province_code_of(destination)),
        line_count=len(priced),
        note=clean_note,
        source=source,
        referral=await bindings.referral_of(session, shop.id, buyer.id),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    line_rows = [
        {
            "public_id": new_public_id(),
            "shop_id": shop.id,
            "product_id": item.product_id,
            "sku_id": item.sku_id,
            "title": item.title,
            "spec_text": spec_text(item.spec_values),
            "image_key": item.cover_key,
            "unit_price": price_of(item),
            "regular_price": item.price if item.sku_id in offers else None,
            "quantity": quantity,
            "line_total": price_of(item) * quantity,
            "shipped_quantity": 0,
            "position": position,
        }
        for position, (item, quantity) in enumerate(priced)
    ]
    limits.check(settings, held, priced)
    stored = await _store(session, shop, order, line_rows, _first_event(order, buyer))
    if stored is None:
        if idempotency_key is not None and request_hash is not None:
            existing = await _existing_for_key(session, buyer, idempotency_key)
            if existing is not None:
                return _replay(existing, request_hash)
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
    return _created(stored)


async def create_for_amount(
    session: AsyncSession,
    settings: Settings,
    buyer: User,
    shop: Shop,
    *,
    title: str,
    amount: int,
    address: addresses.AddressInput | None = None,
    address_id: str | None = None,
    note: str = "",
    no_delivery: bool = False,
) -> CreatedOrder:
    """An order of one line for an amount the merchant typed (a payment request): no
    product, no stock, no shipping fee; otherwise an order like any other. `no_delivery`
    (a service or a fee): no address either, and it is never shipped."""
    check_amount(amount)
    require_phone(buyer)
    await limits.one_checkout_at_a_time(session, buyer, shop)
    clean_note = _clean_note(note)
    destination = (
        addresses.AddressInput("", "", "", "", "", "")
        if no_delivery
        else await _destination(session, buyer, address, address_id)
    )
    order = _order_row(
        settings,
        shop,
        buyer,
        destination,
        items_total=amount,
        fee=0,
        line_count=1,
        note=clean_note,
        source=OrderSource.payment_request,
        referral=await bindings.referral_of(session, shop.id, buyer.id),
    ) | {"no_delivery": no_delivery}
    line = {
        "public_id": new_public_id(),
        "shop_id": shop.id,
        "product_id": None,
        "sku_id": None,
        "title": title[:60],
        "spec_text": "",
        "image_key": None,
        "unit_price": amount,
        "quantity": 1,
        "line_total": amount,
        "shipped_quantity": 0,
        "position": 0,
    }
    limits.check(settings, await limits.orders_held(session, buyer, shop), [])
    stored = await _store(session, shop, order, [line], _first_event(order, buyer))
    if stored is None:
        raise Conflict(_("Please try again."), code="try_again")
    return _created(stored)


def check_amount(amount: int) -> None:
    """A typed amount: whole fen, from 0.01 to the most one order may total (422)."""
    if type(amount) is not int or not 1 <= amount <= MAX_TOTAL:
        raise InvalidInput(
            _(
                "Enter an amount from %(least)s to %(most)s.",
                least=Money(1, "CNY").format(),
                most=Money(MAX_TOTAL, "CNY").format(),
            ),
            code="invalid_amount",
            field="amount",
        )


async def placed_with_key(session: AsyncSession, buyer: User, key: str) -> Order | None:
    """The order a checkout form's one-time key already placed: a second submit of the same
    form (its cart now emptied) leads to it instead of an error."""
    return await _existing_for_key(session, buyer, key)
