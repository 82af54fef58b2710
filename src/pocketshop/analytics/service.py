"""What the dashboard, the analytics API and the exports show: read from the daily rollups
only (analytics.rollup writes them), never from orders or page views, so a shop's 30 days are
a few dozen rows however busy it was."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.analytics.models import SOURCES, ProductDay, ShopDay, SourceDay
from pocketshop.catalog.models import Product
from pocketshop.shops.models import Shop

DEFAULT_DAYS = 30
MAX_DAYS = 90
TOP_PRODUCTS = 5


@dataclass(frozen=True)
class Figures:
    views: int = 0
    visitors: int = 0
    orders: int = 0  # paid
    buyers: int = 0  # who paid
    turnover: int = 0  # fen

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(
            self.views + other.views,
            self.visitors + other.visitors,
            self.orders + other.orders,
            self.buyers + other.buyers,
            self.turnover + other.turnover,
        )

    @property
    def conversion(self) -> int | None:
        """Paying buyers per visitor, in basis points (320: 3.2%); None without visitors."""
        return self.buyers * 10_000 // self.visitors if self.visitors else None

    @property
    def average(self) -> int | None:
        """Turnover per paid order (fen, rounded); None without orders."""
        return (self.turnover + self.orders // 2) // self.orders if self.orders else None


@dataclass(frozen=True)
class Day:
    day: date
    figures: Figures


@dataclass(frozen=True)
class SourceFigures:
    source: str  # one of SOURCES
    figures: Figures


@dataclass(frozen=True)
class ProductFigures:
    public_id: str
    title: str
    cover_key: str | None
    views: int
    visitors: int
    orders: int
    units: int
    turnover: int


@dataclass(frozen=True)
class Dashboard:
    """A shop's last `len(days)` days, today (so far) the last of them."""

    days: list[Day]  # oldest first
    today: Figures
    yesterday: Figures
    total: Figures  # the days added up: a visitor or buyer counts once per day
    sources: list[SourceFigures]  # every source, in SOURCES order
    products: list[ProductFigures]  # the best sellers, most turnover first

    @property
    def first(self) -> date:
        return self.days[0].day

    @property
    def last(self) -> date:
        return self.days[-1].day


def today_of(shop: Shop) -> date:
    return clock.now().astimezone(ZoneInfo(shop.timezone)).date()


def _figures(row: Sequence[int | None]) -> Figures:
    views, visitors, orders, buyers, turnover = (int(value or 0) for value in row)
    return Figures(views, visitors, orders, buyers, turnover)


# The reads, made once with parameters (`shop_id`, `first`, `last`, `limit`): a statement built
# on each call costs SQLAlchemy more CPU than running it.
_SHOP = bindparam("shop_id", type_=Integer)
_FIRST, _LAST = bindparam("first", type_=Date), bindparam("last", type_=Date)
_DAYS = select(
    ShopDay.day, ShopDay.views, ShopDay.visitors, ShopDay.orders, ShopDay.buyers, ShopDay.turnover
).where(ShopDay.shop_id == _SHOP, ShopDay.day >= _FIRST, ShopDay.day <= _LAST)
_SOURCES = (
    select(
        SourceDay.source,
        func.sum(SourceDay.views),
        func.sum(SourceDay.visitors),
        func.sum(SourceDay.orders),
        func.sum(SourceDay.buyers),
        func.sum(SourceDay.turnover),
    )
    .where(SourceDay.shop_id == _SHOP, SourceDay.day >= _FIRST, SourceDay.day <= _LAST)
    .group_by(SourceDay.source)
)
# The best sellers are chosen among the rollups first, then joined to their products: five
# rows looked up by id, not a shop's every product.
_TURNOVER, _UNITS, _VIEWS = (
    func.sum(ProductDay.turnover),
    func.sum(ProductDay.units),
    func.sum(ProductDay.views),
)
_TOP = (
    select(
        ProductDay.product_id,
        _VIEWS.label("views"),
        func.sum(ProductDay.visitors).label("visitors"),
        func.sum(ProductDay.orders).label("orders"),
        _UNITS.label("units"),
        _TURNOVER.label("turnover"),
    )
    .where(ProductDay.shop_id == _SHOP, ProductDay.day >= _FIRST, ProductDay.day <= _LAST)
    .group_by(ProductDay.product_id)
    .order_by(_TURNOVER.desc(), _UNITS.desc(), _VIEWS.desc(), ProductDay.product_id)
    .limit(bindparam("limit", type_=Integer))
    .subquery()
)
_PRODUCTS = (
    select(
        Product.public_id,
        Product.title,
        Product.cover_key,
        _TOP.c.views,
        _TOP.c.visitors,
        _TOP.c.orders,
        _TOP.c.units,
        _TOP.c.turnover,
    )
    .join(_TOP, _TOP.c.product_id == Product.id)
    .order_by(_TOP.c.turnover.desc(), _TOP.c.units.desc(), _TOP.c.views.desc(), Product.id)
)


async def dashboard(session: AsyncSession, shop: Shop, *, days: int = DEFAULT_DAYS) -> Dashboard:
    days = min(max(days, 1), MAX_DAYS)
    today = today_of(shop)
    first = today - timedelta(days=days - 1)
    since = min(first, today - timedelta(days=1))  # yesterday, even for one day
    found = {
        day: _figures(row)
        for day, *row in await session.execute(
            _DAYS, {"shop_id": shop.id, "first": since, "last": today}
        )
    }
    listed = [
        Day(day, found.get(day, Figures()))
        for day in (first + timedelta(days=n) for n in range(days))
    ]
    total = sum((day.figures for day in listed), Figures())
    by_source = {
        source: _figures(row)
        for source, *row in await session.execute(
            _SOURCES, {"shop_id": shop.id, "first": first, "last": today}
        )
    }
    return Dashboard(
        days=listed,
        today=found.get(today, Figures()),
        yesterday=found.get(today - timedelta(days=1), Figures()),
        total=total,
        sources=[SourceFigures(source, by_source.get(source, Figures())) for source in SOURCES],
        products=await top_products(session, shop, first, today),
    )


async def top_products(
    session: AsyncSession, shop: Shop, first: date, last: date, *, limit: int = TOP_PRODUCTS
) -> list[ProductFigures]:
    """The products that sold most from `first` to `last`, then the most seen."""
    rows = await session.execute(
        _PRODUCTS, {"shop_id": shop.id, "first": first, "last": last, "limit": limit}
    )
    return [
        ProductFigures(public_id, title, cover, *(int(value or 0) for value in figures))
        for public_id, title, cover, *figures in rows
    ]


async def days_by_source(
    session: AsyncSession, shop: Shop, first: date, last: date
) -> dict[date, dict[str, Figures]]:
    """Each day's figures per source (the export's columns)."""
    found: dict[date, dict[str, Figures]] = {}
    for row in await session.scalars(
        select(SourceDay).where(
            SourceDay.shop_id == shop.id, SourceDay.day >= first, SourceDay.day <= last
        )
    ):
        found.setdefault(row.day, {})[row.source] = Figures(
            row.views, row.visitors, row.orders, row.buyers, row.turnover
        )
    return found
