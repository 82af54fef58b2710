"""Shipping: whole orders or some lines, in one or more packages, each with a courier and a
tracking number checked against that courier's format."""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.catalog import stock
from pocketshop.config import Settings
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.notifications import service as notifications
from pocketshop.notifications.events import Event
from pocketshop.orders import service
from pocketshop.orders.models import Order, OrderLine, Shipment, ShipmentLine
from pocketshop.orders.service import AWAITING_SHIPMENT, Actor, OrderStatus
from pocketshop.shops.models import Shop


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    # None: any letters, digits and dashes (a courier we do not know the format of).
    pattern: re.Pattern[str] | None
    example: str


CARRIERS = {
    carrier.code: carrier
    for carrier in (
        Carrier("SF", N_("SF Express"), re.compile(r"SF\d{12,13}"), "SF1234567890123"),
        Carrier("ZTO", N_("ZTO Express"), re.compile(r"\d{12,15}"), "773012345678901"),
        Carrier("YTO", N_("YTO Express"), re.compile(r"YT\d{13,15}"), "YT1234567890123"),
        Carrier("STO", N_("STO Express"), re.compile(r"\d{12,15}"), "772012345678901"),
        Carrier("YUNDA", N_("Yunda Express"), re.compile(r"\d{13,15}"), "4312345678901"),
        Carrier("JD", N_("JD Logistics"), re.compile(r"JD[A-Z0-9]{11,13}"), "JDVA12345678901"),
        Carrier(
            "EMS",
            N_("China Post EMS"),
            re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}|1\d{12}"),
            "EA123456789CN",
        ),
        Carrier("JT", N_("J&T Express"), re.compile(r"JT\d{13}"), "JT1234567890123"),
        Carrier("OTHER", N_("Other courier"), None, "ABC-123456"),
    )
}
OTHER_PATTERN = re.compile(r"[A-Z0-9-]{6,40}")


@dataclass(frozen=True)
class ShipLine:
    line_id: str
    quantity: int


def carriers() -> list[tuple[str, str]]:
    return [(code, _(carrier.name)) for code, carrier in CARRIERS.items()]


def carrier_name(code: str) -> str:
    carrier = CARRIERS.get(code)
    return _(carrier.name) if carrier else code


def validate_tracking(carrier_code: str, tracking_number: str) -> str:
    carrier = CARRIERS.get(carrier_code)
    if carrier is None:
        raise InvalidInput(_("Choose a courier."), code="invalid_carrier", field="carrier")
    number = re.sub(r"\s+", "", tracking_number or "").upper()
    if not (carrier.pattern or OTHER_PATTERN).fullmatch(number):
        raise InvalidInput(
            _(
                "This is not a %(carrier)s tracking number (for example %(example)s).",
                carrier=_(carrier.name),
                example=carrier.example,
            ),
            code="invalid_tracking_number",
            field="tracking_number",
        )
    return number


async def ship(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    number: str,
    *,
    carrier: str,
    tracking_number: str,
    lines: list[ShipLine] | None = None,
    user_id: int | None = None,
) -> Shipment:
    """Send a package with all that is left to ship, or with the given lines and quantities.
    In a savepoint, so a refused package leaves nothing behind."""
    async with session.begin_nested():
        return await _ship(
            session,
            settings,
            shop,
            number,
            carrier=carrier,
            tracking_number=tracking_number,
            lines=lines,
            user_id=user_id,
        )


async def _ship(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    number: str,
    *,
    carrier: str,
    tracking_number: str,
    lines: list[ShipLine] | None,
    user_id: int | None,
) -> Shipment:
    order = await session.scalar(
        select(Order).where(Order.number == number, Order.shop_id == shop.id)
    )
    if order is not None and order.no_delivery:
        raise Conflict(
            _("This order has no delivery: there is nothing to ship."), code="no_delivery"
        )
    if order is None or order.status not in AWAITING_SHIPMENT:
        # Unpaid, finished and other shops' orders alike: nothing here awaits shipment.
        raise NotFound(
            _("No order with this number is awaiting shipment in your shop."),
            code="order_not_shippable",
        )
    tracking = validate_tracking(carrier, tracking_number)
    now = clock.now()
    # One package of an order at a time: this conditional UPDATE holds the order's row until
    # commit (PostgreSQL), so the lines read next are current and whichever package comes last
    # sees everything shipped.
    status = await session.scalar(
        update(Order)
        .where(
            Order.id == order.id,
            Order.status.in_([OrderStatus.paid.value, OrderStatus.partially_shipped.value]),
        )
        .values(shipped_at=now)
        .returning(Order.status)
        .execution_options(synchronize_session=False)
    )
    if status is None:
        raise Conflict(
            _("Part of this was shipped meanwhile. Reload and try again."), code="order_changed"
        )
    order.status = status
    order_lines = {line.public_id: line for line in await service.lines_of(session, order)}
    wanted = _quantities(order_lines, lines)

    shipment = Shipment(
        order_id=order.id,
        shop_id=shop.id,
        carrier=carrier,
        tracking_number=tracking,
        created_at=now,
    )
    session.add(shipment)
    await session.flush()
    for line, quantity in wanted:
        # Conditional: two packages sent at once cannot ship more than was bought.
        result = await session.execute(
            update(OrderLine)
            .where(
                OrderLine.id == line.id,
                OrderLine.shipped_quantity + OrderLine.cancelled_quantity + quantity
                <= OrderLine.quantity,
            )
            .values(shipped_quantity=OrderLine.shipped_quantity + quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                _("Part of this was shipped meanwhile. Reload and try again."),
                code="order_changed",
            )
        line.shipped_quantity += quantity
        session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=line.id, quantity=quantity))

    everything_shipped = all(not service.unshipped(line) for line in order_lines.values())
    if everything_shipped:
        await service.transition(
            session,
            order,
            OrderStatus.shipped,
            actor=Actor.merchant,
            user_id=user_id,
            values={"shipped_at": now, **_received_by(settings, now)},
        )
    elif order.status == OrderStatus.paid:
        await service.transition(
            session,
            order,
            OrderStatus.partially_shipped,
            actor=Actor.merchant,
            user_id=user_id,
            values={"shipped_at": now},
        )
    else:
        order.shipped_at = now
    await session.flush()
    notifications.notify(
        session,
        Event.order_shipped,
        shipment.public_id,
        {
            "number": order.number,
            "shop": shop.name,
            "carrier_label": CARRIERS[shipment.carrier].name,
            "tracking": shipment.tracking_number,
        },
        user_id=order.buyer_id,
    )
    return shipment


async def cancel_unshipped(
    session: AsyncSession, settings: Settings, order: Order, line: OrderLine, quantity: int
) -> int:
    """Units of a line refunded before they were shipped (after-sales, the order locked): at
    most `quantity` of those not shipped yet never ship, and go back on sale; an order whose
    rest is now all shipped counts as shipped. How many were taken off."""
    taken = min(quantity, service.unshipped(line))
    if taken <= 0:
        return 0
    line.cancelled_quantity += taken
    if line.sku_id and line.product_id:
        await stock.release(session, line.sku_id, line.product_id, taken)
    lines = await service.lines_of(session, order)
    if order.status == OrderStatus.partially_shipped and not any(map(service.unshipped, lines)):
        now = clock.now()
        await service.transition(
            session,
            order,
            OrderStatus.shipped,
            actor=Actor.system,
            reason="rest_refunded",
            values=_received_by(settings, now),
        )
    return taken


def _received_by(settings: Settings, now: datetime) -> dict[str, datetime]:
    return service.received_by(settings, now)


def _quantities(
    order_lines: dict[str, OrderLine], requested: list[ShipLine] | None
) -> list[tuple[OrderLine, int]]:
    if not requested:
        return [
            (line, service.unshipped(line))
            for line in order_lines.values()
            if service.unshipped(line)
        ]
    chosen: dict[str, int] = {}
    for item in requested:
        line = order_lines.get(item.line_id)
        if line is None:
            raise InvalidInput(
                _("A line you chose is not in this order."), code="unknown_line", field="lines"
            )
        chosen[item.line_id] = chosen.get(item.line_id, 0) + item.quantity
    result = []
    for line_id, quantity in chosen.items():
        line = order_lines[line_id]
        remaining = service.unshipped(line)
        if type(quantity) is not int or not 1 <= quantity <= remaining:
            raise InvalidInput(
                _("Ship between 1 and %(left)s of “%(title)s”.", left=remaining, title=line.title),
                code="invalid_quantity",
                field="lines",
            )
        result.append((line, quantity))
    return result


@dataclass(frozen=True)
class ShipmentView:
    shipment: Shipment
    lines: list[tuple[OrderLine, int]]


async def shipments_of(session: AsyncSession, order: Order) -> list[ShipmentView]:
    shipments = list(
        await session.scalars(
            select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id)
        )
    )
    if not shipments:
        return []
    rows = await session.execute(
        select(ShipmentLine, OrderLine)
        .join(OrderLine, OrderLine.id == ShipmentLine.order_line_id)
        .where(ShipmentLine.shipment_id.in_([shipment.id for shipment in shipments]))
        .order_by(ShipmentLine.id)
    )
    by_shipment: dict[int, list[tuple[OrderLine, int]]] = {s.id: [] for s in shipments}
    for shipment_line, order_line in rows:
        by_shipment[shipment_line.shipment_id].append((order_line, shipment_line.quantity))
    return [ShipmentView(shipment, by_shipment[shipment.id]) for shipment in shipments]
