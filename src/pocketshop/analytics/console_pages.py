"""Console: the dashboard's days as a spreadsheet (the dashboard itself is the console's
home, shops.pages)."""

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from pocketshop.analytics import export, service
from pocketshop.shops.deps import ConsoleShop
from pocketshop.web.routing import Session, page_router

router = page_router(prefix="/console")
# Pages take whatever a hand-edited URL holds: a number of days it does not understand is 30.
DaysTyped = Annotated[str, Query(max_length=4)]


def days_of(typed: str) -> int:
    if typed.isascii() and typed.isdigit():
        return min(max(int(typed), 1), service.MAX_DAYS)
    return service.DEFAULT_DAYS


@router.get("/analytics.csv")
async def analytics_csv(session: Session, shop: ConsoleShop, days: DaysTyped = "") -> Response:
    return await export.csv_response(session, shop, days_of(days))


@router.get("/analytics.xlsx")
async def analytics_xlsx(session: Session, shop: ConsoleShop, days: DaysTyped = "") -> Response:
    return await export.xlsx_response(session, shop, days_of(days))
