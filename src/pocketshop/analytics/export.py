"""The dashboard's days for spreadsheets (pocketshop.spreadsheets writes them): one row a day,
oldest first, today (so far) last; amounts in yuan; then each source's turnover."""

from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import spreadsheets
from pocketshop.analytics import service
from pocketshop.analytics.labels import percent, source_label
from pocketshop.analytics.models import SOURCES
from pocketshop.i18n import _
from pocketshop.shops.models import Shop
from pocketshop.spreadsheets import Column, Kind, Table, Value


def title() -> str:
    return _("Sales and visitors")


def filename(shop: Shop, found: service.Dashboard) -> str:
    return f"{shop.slug}-analytics-{found.first:%Y%m%d}-{found.last:%Y%m%d}"


async def table(session: AsyncSession, shop: Shop, found: service.Dashboard) -> Table:
    text, integer, yuan = Kind.text, Kind.integer, Kind.yuan
    columns = [
        Column(_("Date"), text, 11),
        Column(_("Page views"), integer, 10),
        Column(_("Visitors"), integer, 10),
        Column(_("Paid orders"), integer, 10),
        Column(_("Paying buyers"), integer, 10),
        Column(_("Turnover"), yuan, 12),
        Column(_("Conversion"), text, 10),
        Column(_("Average order value"), yuan, 12),
        *(
            Column(_("Turnover: %(source)s", source=source_label(source)), yuan, 14)
            for source in SOURCES
        ),
    ]
    by_source = await service.days_by_source(session, shop, found.first, found.last)
    rows: list[tuple[Value, ...]] = []
    for day in found.days:
        figures = day.figures
        sources = by_source.get(day.day, {})
        rows.append(
            (
                day.day.isoformat(),
                figures.views,
                figures.visitors,
                figures.orders,
                figures.buyers,
                spreadsheets.yuan(figures.turnover),
                percent(figures.conversion),
                spreadsheets.yuan(figures.average or 0),
                *(
                    spreadsheets.yuan(sources.get(source, service.Figures()).turnover)
                    for source in SOURCES
                ),
            )
        )
    return Table(columns, rows)


async def csv_response(session: AsyncSession, shop: Shop, days: int) -> Response:
    found = await service.dashboard(session, shop, days=days)
    rows = await table(session, shop, found)
    return await spreadsheets.csv_response(rows, filename(shop, found))


async def xlsx_response(session: AsyncSession, shop: Shop, days: int) -> Response:
    found = await service.dashboard(session, shop, days=days)
    rows = await table(session, shop, found)
    return await spreadsheets.xlsx_response(rows, title(), filename(shop, found))
