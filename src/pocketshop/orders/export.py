"""Orders as CSV for spreadsheets: one row per line, in the shop's time zone, amounts in yuan.

A UTF-8 byte order mark leads, so Excel opens Chinese text correctly; cells that a
spreadsheet would run as a formula are prefixed with an apostrophe.
"""

import csv
import io
from zoneinfo import ZoneInfo

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.i18n import _
from pocketshop.money import yuan_text
from pocketshop.orders import addresses, queries, service
from pocketshop.shops.models import Shop

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


async def csv_text(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> str:
    zone = ZoneInfo(shop.timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            _("Order number"),
            _("Placed at"),
            _("Status"),
            _("Product"),
            _("Spec"),
            _("Unit price"),
            _("Quantity"),
            _("Line total"),
            _("Shipping fee"),
            _("Order total"),
            _("Recipient"),
            _("Phone"),
            _("Address"),
            _("Note"),
        ]
    )
    for order, line in await queries.orders_for_export(session, shop, status=status, query=query):
        writer.writerow(
            [
                _cell(order.number),
                order.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                service.label_of(order),
                _cell(line.title),
                _cell(line.spec_text),
                yuan_text(line.unit_price),
                line.quantity,
                yuan_text(line.line_total),
                yuan_text(order.shipping_fee),
                yuan_text(order.total),
                _cell(order.recipient),
                _cell(order.phone),
                _cell(addresses.one_line(order)),
                _cell(order.note),
            ]
        )
    return "\ufeff" + out.getvalue()


async def csv_response(
    session: AsyncSession, shop: Shop, *, status: service.StatusFilter, query: str
) -> Response:
    text = await csv_text(session, shop, status=status, query=query)
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{shop.slug}-orders.csv"',
            "Cache-Control": "no-store",
        },
    )
