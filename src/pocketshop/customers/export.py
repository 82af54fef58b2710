"""Customers for spreadsheets (pocketshop.spreadsheets writes them): one row per customer the
filters keep, in the shop's time zone, amounts in yuan."""

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import spreadsheets
from pocketshop.attribution import service as attribution
from pocketshop.customers import service
from pocketshop.customers.service import Filters
from pocketshop.i18n import _
from pocketshop.shops.models import Shop
from pocketshop.spreadsheets import Column, Kind, Table, Value

TAGS_SEPARATOR = ", "


def title() -> str:
    return _("Customers")


async def table(session: AsyncSession, shop: Shop, filters: Filters) -> Table:
    text, integer, yuan, moment = Kind.text, Kind.integer, Kind.yuan, Kind.moment
    columns = [
        Column(_("Name"), text, 14),
        Column(_("Phone"), text, 16),
        Column(_("First order"), moment, 17),
        Column(_("Last order"), moment, 17),
        Column(_("Paid orders"), integer, 10),
        Column(_("Spent"), yuan, 11),
        Column(_("Came through"), text, 24),
        Column(_("Tags"), text, 20),
        Column(_("Note"), text, 30),
    ]
    zone = ZoneInfo(shop.timezone)
    rows: list[tuple[Value, ...]] = []
    for row in await service.every(session, shop, filters):
        customer = row.customer
        source = await attribution.describe(
            session,
            customer.source_kind,
            store_id=customer.source_store_id,
            staff_id=customer.source_staff_id,
            campaign_id=customer.source_campaign_id,
        )
        rows.append(
            (
                customer.name,
                row.phone,
                customer.first_order_at.astimezone(zone).replace(tzinfo=None),
                customer.last_order_at.astimezone(zone).replace(tzinfo=None),
                customer.orders,
                spreadsheets.yuan(customer.spent),
                source or _("Direct"),
                TAGS_SEPARATOR.join(tag.name for tag in row.tags),
                customer.note,
            )
        )
    return Table(columns, rows)
