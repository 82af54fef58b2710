"""The shop's figures through the API: the days of the dashboard, as JSON, CSV or XLSX."""

from typing import Annotated, cast

from fastapi import Query, Response

from pocketshop import spreadsheets
from pocketshop.analytics import export, service
from pocketshop.analytics.schemas import (
    AnalyticsOut,
    DayOut,
    FiguresOut,
    ProductOut,
    Source,
    SourceOut,
)
from pocketshop.shops.deps import MerchantShop
from pocketshop.web.routing import Session, api_router

router = api_router(prefix="/api/v1/me/shop", tags=["analytics"])
Days = Annotated[
    int,
    Query(ge=1, le=service.MAX_DAYS, description="how many days, today (so far) the last"),
]


@router.get("/analytics")
async def get_analytics(
    session: Session, shop: MerchantShop, days: Days = service.DEFAULT_DAYS
) -> AnalyticsOut:
    """The shop's sales and visitors per day in its time zone, today so far and yesterday,
    the days added up, per source (direct, a customer's share, a store, a staff member, a
    campaign link) and the best-selling products. Read from the daily rollups, which a job
    brings up to date within about a minute."""
    found = await service.dashboard(session, shop, days=days)
    return AnalyticsOut(
        timezone=shop.timezone,
        first_day=found.first,
        last_day=found.last,
        today=FiguresOut.of(found.today),
        yesterday=FiguresOut.of(found.yesterday),
        total=FiguresOut.of(found.total),
        days=[DayOut(day=day.day, **FiguresOut.of(day.figures).model_dump()) for day in found.days],
        sources=[
            SourceOut(source=cast(Source, row.source), **FiguresOut.of(row.figures).model_dump())
            for row in found.sources
        ],
        top_products=[
            ProductOut(
                id=product.public_id,
                title=product.title,
                views=product.views,
                visitors=product.visitors,
                orders=product.orders,
                units=product.units,
                turnover=product.turnover,
            )
            for product in found.products
        ],
    )


@router.get(
    "/analytics.csv",
    response_class=Response,
    responses={200: {"content": {spreadsheets.CSV_MEDIA_TYPE: {}}}},
)
async def export_analytics_csv(
    session: Session, shop: MerchantShop, days: Days = service.DEFAULT_DAYS
) -> Response:
    """One row a day, as CSV (UTF-8 with a byte order mark, for Excel)."""
    return await export.csv_response(session, shop, days)


@router.get(
    "/analytics.xlsx",
    response_class=Response,
    responses={200: {"content": {spreadsheets.XLSX_MEDIA_TYPE: {}}}},
)
async def export_analytics_xlsx(
    session: Session, shop: MerchantShop, days: Days = service.DEFAULT_DAYS
) -> Response:
    """The same, as an Excel workbook."""
    return await export.xlsx_response(session, shop, days)
