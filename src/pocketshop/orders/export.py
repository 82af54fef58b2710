"""Orders for spreadsheets (pocketshop.spreadsheets writes them as CSV or a workbook): one
row per line, in the shop's time zone, amounts in yuan.

One builder (`table`) reads the orders and makes the header and the rows as typed values.
Besides the order and the line, a row has the line's courier and tracking number (the
packages holding it: a line split over two packages names both) and what was refunded of its
order (refunds that succeeded). Those come from two more queries whatever the number of
orders, bounded by the exported orders' ids and checked against their set.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import spreadsheets
from pocketshop.i18n import _
from pocketshop.orders import addresses, queries, service, shipping
from pocketshop.orders.models import Order, Shipment, ShipmentLine
from pocketshop.payments import refunds
from pocketshop.shops.models import Shop
from pocketshop.spreadsheets import Column, Kind, Table, Value

PACKAGES_SEPARATOR = "; "


def _columns() -> list[Column]:
    text, integer, yuan, moment = Kind.text, Kind.integer, Kind.yuan, Kind.moment
    return [
        Column(_("Order number"), text, 22),
        Column(_("Placed at"), moment, 17),
        Column(_("Status"), text, 12),
        Column(_("Product"), text, 30),
        Column(_("Spec"), text, 16),
        Column(_("Unit price"), yuan, 11),
        Column(_("Quantity"), integer, 9),
        Column(_("Line total"), yuan, 11),
        Column(_("Shipping fee"), yuan, 11),
        Column(_("Order total"), yuan, 11),
        Column(_("Recipient"), text, 12),
        Column(_("Phone"), text, 16),
        Column(_("Address"), text, 40),
        Column(_("Note"), text, 24),
        Column(_("Courier"), text, 14),
        Column(_("Tracking number"), text, 20),
        Column(_("Refunded"), yuan, 11),
    ]


async def _packages(
    session: AsyncSession, shop: Shop, order_ids: set[int]
) -> dict[int, list[Shipment]]:
    """The packages each exported order line is in, first shipped first: one query."""
    found: dict[int, list[Shipment]] = defaultdict(list)
    if not order_ids:
        return found
    rows = await session.execute(
        select(ShipmentLine.order_line_id, Shipment)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(
            Shipment.shop_id == shop.id,
            Shipment.order_id.between(min(order_ids), max(order_ids)),
        )
        .order_by(Shipment.created_at, Shipment.id)
    )
    for line_id, shipment in rows:
        if shipment.order_id in order_ids:
            found[line_id].append(shipment)
    return found


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _placed_at(order: Order, zone: ZoneInfo) -> datetime:
    """The shop's wall-clock time, without a zone (a spreadsheet has none), to the second."""
    return order.created_at.astimezone(zone).replace(tzinfo=None, microsecond=0)


async def table(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> Table:
    """The export's header and rows, one row per order line, newest order first."""
    zone = ZoneInfo(shop.timezone)
    found = await queries.orders_for_export(session, shop, status=status, query=query)
    order_ids = {order.id for order, _line in found}
    packages = await _packages(session, shop, order_ids)
    refunded = await refunds.refunded_of_orders(session, shop.id, order_ids)
    rows: list[tuple[Value, ...]] = []
    for order, line in found:
        shipped = packages.get(line.id, [])
        rows.append(
            (
                order.number,
                _placed_at(order, zone),
                service.label_of(order),
                line.title,
                line.spec_text,
                spreadsheets.yuan(line.unit_price),
                line.quantity,
                spreadsheets.yuan(line.line_total),
                spreadsheets.yuan(order.shipping_fee),
                spreadsheets.yuan(order.total),
                order.recipient,
                order.phone,
                addresses.one_line(order),
                order.note,
                PACKAGES_SEPARATOR.join(
                    _unique([shipping.carrier_name(one.carrier) for one in shipped])
                ),
                PACKAGES_SEPARATOR.join(_unique([one.tracking_number for one in shipped])),
                spreadsheets.yuan(refunded.get(order.id, 0)),
            )
        )
    return Table(_columns(), rows)


async def csv_response(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> Response:
    found = await table(session, shop, status=status, query=query)
    return await spreadsheets.csv_response(found, f"{shop.slug}-orders")


async def xlsx_response(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> Response:
    found = await table(session, shop, status=status, query=query)
    return await spreadsheets.xlsx_response(found, _("Orders"), f"{shop.slug}-orders")
