"""Orders for spreadsheets, as CSV or as an Excel workbook: one row per line, in the shop's
time zone, amounts in yuan.

One builder (`table`) reads the orders and makes the header and the rows as typed values
(text, a count, an amount in yuan as a Decimal, a naive local datetime); each writer only
renders them. Besides the order and the line, a row has the line's courier and tracking
number (the packages holding it: a line split over two packages names both) and what was
refunded of its order (refunds that succeeded). Those come from two more queries whatever the
number of orders, bounded by the exported orders' ids and checked against their set.

The CSV leads with a UTF-8 byte order mark, so Excel opens Chinese text correctly. In either
format text a spreadsheet would run as a formula never runs: the CSV prefixes it with an
apostrophe; the workbook stores every text cell as a string (order numbers and phones too,
so Excel neither shows them as 1.2E+17 nor drops a leading zero).
"""

import asyncio
import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from fastapi import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.i18n import _
from pocketshop.orders import addresses, queries, service, shipping
from pocketshop.orders.models import Order, Shipment, ShipmentLine
from pocketshop.payments import refunds
from pocketshop.shops.models import Shop

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PACKAGES_SEPARATOR = "; "


class Kind(StrEnum):
    text = "text"
    integer = "integer"
    yuan = "yuan"
    moment = "moment"


Value = str | int | Decimal | datetime


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind
    width: int  # in characters, for the workbook


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[tuple[Value, ...]]


def _yuan(fen: int) -> Decimal:
    """1250 fen -> Decimal('12.50'): exact, never through float."""
    return Decimal(fen).scaleb(-2)


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
                _yuan(line.unit_price),
                line.quantity,
                _yuan(line.line_total),
                _yuan(order.shipping_fee),
                _yuan(order.total),
                order.recipient,
                order.phone,
                addresses.one_line(order),
                order.note,
                PACKAGES_SEPARATOR.join(
                    _unique([shipping.carrier_name(one.carrier) for one in shipped])
                ),
                PACKAGES_SEPARATOR.join(_unique([one.tracking_number for one in shipped])),
                _yuan(refunded.get(order.id, 0)),
            )
        )
    return Table(_columns(), rows)


# --- CSV -------------------------------------------------------------------------------------


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _csv_cell(kind: Kind, value: Value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if kind is Kind.text:
        return _csv_text(str(value))
    return str(value)


def csv_text(found: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_csv_text(column.title) for column in found.columns])
    kinds = [column.kind for column in found.columns]
    for row in found.rows:
        writer.writerow([_csv_cell(kind, value) for kind, value in zip(kinds, row, strict=True)])
    return "\ufeff" + out.getvalue()


# --- XLSX ------------------------------------------------------------------------------------

NUMBER_FORMATS = {
    Kind.text: "@",
    Kind.integer: "0",
    Kind.yuan: "0.00",
    Kind.moment: "yyyy-mm-dd hh:mm",
}


def _xlsx_cell(sheet: WriteOnlyWorksheet, kind: Kind, value: Value) -> Cell:
    cell = WriteOnlyCell(sheet)
    if kind is Kind.text:
        # Control characters are not allowed in the file; a string stays a string even when
        # it starts with "=" (openpyxl would make it a formula) or reads like "#N/A".
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        cell.data_type = "s"
    else:
        cell.value = value
    cell.number_format = NUMBER_FORMATS[kind]
    return cell


def xlsx_bytes(found: Table, title: str) -> bytes:
    """The workbook: one sheet, its header bold and frozen. Written row by row (openpyxl's
    write-only mode), so a big shop's export does not hold a whole workbook of cell objects."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    for number, column in enumerate(found.columns, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in found.columns:
        cell = _xlsx_cell(sheet, Kind.text, column.title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    kinds = [column.kind for column in found.columns]
    for row in found.rows:
        sheet.append(
            [_xlsx_cell(sheet, kind, value) for kind, value in zip(kinds, row, strict=True)]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- responses -------------------------------------------------------------------------------


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def csv_response(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> Response:
    found = await table(session, shop, status=status, query=query)
    return _download(csv_text(found).encode(), CSV_MEDIA_TYPE, f"{shop.slug}-orders.csv")


async def xlsx_response(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> Response:
    found = await table(session, shop, status=status, query=query)
    # Zipping the workbook takes a while for a big shop: not on the event loop.
    body = await asyncio.to_thread(xlsx_bytes, found, _("Orders"))
    return _download(body, XLSX_MEDIA_TYPE, f"{shop.slug}-orders.xlsx")
