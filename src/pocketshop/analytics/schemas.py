from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from pocketshop.analytics.service import Figures

Source = Literal["direct", "share", "store", "staff", "campaign"]


class FiguresOut(BaseModel):
    views: int = Field(description="page views: each page once a day per visitor")
    visitors: int = Field(description="distinct visitors (over several days: per day, added up)")
    orders: int = Field(description="orders paid")
    buyers: int = Field(description="buyers who paid (over several days: per day, added up)")
    turnover: int = Field(description="what the orders paid cost, shipping included, in fen")
    conversion_bp: int | None = Field(
        description="paying buyers per visitor, in basis points (320 = 3.2%); null: no visitors"
    )
    average_order: int | None = Field(description="turnover per order, in fen; null: no orders")

    @classmethod
    def of(cls, figures: Figures) -> "FiguresOut":
        return cls(
            views=figures.views,
            visitors=figures.visitors,
            orders=figures.orders,
            buyers=figures.buyers,
            turnover=figures.turnover,
            conversion_bp=figures.conversion,
            average_order=figures.average,
        )


class DayOut(FiguresOut):
    day: date


class SourceOut(FiguresOut):
    source: Source = Field(description="what brought the visitors and orders")


class ProductOut(BaseModel):
    id: str
    title: str
    views: int
    visitors: int
    orders: int = Field(description="paid orders with it")
    units: int = Field(description="units sold")
    turnover: int = Field(description="its lines' totals, in fen")


class AnalyticsOut(BaseModel):
    timezone: str = Field(description="the shop's: where its days begin and end")
    first_day: date
    last_day: date = Field(description="today, so far")
    today: FiguresOut
    yesterday: FiguresOut
    total: FiguresOut = Field(description="the days added up")
    days: list[DayOut] = Field(description="oldest first")
    sources: list[SourceOut]
    top_products: list[ProductOut] = Field(description="most turnover first, then most seen")
