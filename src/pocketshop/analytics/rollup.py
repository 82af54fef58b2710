"""The daily rollups, recomputed from their sources: a shop's day is deleted and written
again by three INSERT … SELECT statements (the shop, its sources, its products), each one
aggregate over the day's page views and the orders paid that day. The same statements on
both databases; rerunning them changes nothing.

`refresh` is the job's round: the days whose views changed (marked by each flush of views)
and the days of orders paid since the last round (with a minute's overlap, for a payment
committed late) are recomputed, each shop in a transaction of its own. `backfill`
recomputes a range of days, for every shop or some.

What the figures mean:
- views: (visitor, page) pairs seen that day, each page once a day per visitor;
- visitors: distinct visitors that day (the day's salt: a visitor of two days is two);
- orders: orders paid that day (whatever happened to them later), by when they were paid;
- buyers: distinct buyers of those orders;
- turnover: what those orders cost their buyers, shipping included (fen); a product's is its
  lines' totals. Refunds are not taken off.
"""

import functools
import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Executable,
    Integer,
    Label,
    Select,
    Subquery,
    bindparam,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, db
from pocketshop.analytics.models import (
    DIRECT,
    Page,
    PageView,
    ProductDay,
    Progress,
    ShopDay,
    SourceDay,
    StaleDay,
)
from pocketshop.orders.models import Order, OrderLine
from pocketshop.shops.models import Shop

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=1)  # orders paid are looked at again from this long before
FIRST_LOOK = timedelta(days=2)  # the very first round: orders paid in this time
STALE_PER_ROUND = 2_000
ROLLUP_LOCK = 140  # db.serialize space: one rollup of a shop at a time
ORDERS_PAID = "orders_paid"


def bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's start and end (excluded), in UTC instants, in the shop's time zone."""
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _zero(name: str) -> Label[int]:
    return literal(0, Integer).label(name)


def _sum(column: ColumnElement[Any], type_: type[Integer] = Integer) -> ColumnElement[int]:
    return cast(func.coalesce(func.sum(column), 0), type_)


async def recompute(session: AsyncSession, shop_id: int, zone: ZoneInfo, day: date) -> None:
    """The shop's rollups of `day`, written again from the page views and paid orders."""
    await db.serialize(session, ROLLUP_LOCK, str(shop_id))
    start, end = bounds(day, zone)
    params = {"shop_id": shop_id, "day": day, "start": start, "end": end}
    for statement in _statements():
        await session.execute(statement, params)


@functools.cache
def _statements() -> tuple[Executable, ...]:
    """The deletes and the three INSERT … SELECT, made once: parameters `shop_id`, `day` and
    the day's `start` and `end` (a statement built on each call costs SQLAlchemy more CPU
    than running it)."""
    shop, the_day = bindparam("shop_id", type_=Integer), bindparam("day", type_=Date)
    seen = (PageView.shop_id == shop, PageView.day == the_day)
    paid = (
        Order.shop_id == shop,
        Order.paid_at >= bindparam("start"),
        Order.paid_at < bindparam("end"),
    )
    columns = ["shop_id", "day", "views", "visitors", "orders", "buyers", "turnover"]

    both = union_all(
        select(
            func.count().label("views"),
            func.count(distinct(PageView.visitor)).label("visitors"),
            _zero("orders"),
            _zero("buyers"),
            _zero("turnover"),
        ).where(*seen),
        select(
            _zero("views"),
            _zero("visitors"),
            func.count(),
            func.count(distinct(Order.buyer_id)),
            func.coalesce(func.sum(Order.total), 0),
        ).where(*paid),
    ).subquery()

    by_source = union_all(
        select(
            PageView.source.label("source"),
            func.count().label("views"),
            func.count(distinct(PageView.visitor)).label("visitors"),
            _zero("orders"),
            _zero("buyers"),
            _zero("turnover"),
        )
        .where(*seen)
        .group_by(PageView.source),
        select(
            func.coalesce(Order.referral_kind, DIRECT),
            _zero("views"),
            _zero("visitors"),
            func.count(),
            func.count(distinct(Order.buyer_id)),
            func.sum(Order.total),
        )
        .where(*paid)
        .group_by(Order.referral_kind),
    ).subquery()

    by_product = union_all(
        select(
            PageView.target_id.label("product_id"),
            func.count().label("views"),
            func.count(distinct(PageView.visitor)).label("visitors"),
            _zero("orders"),
            _zero("units"),
            _zero("turnover"),
        )
        .where(*seen, PageView.page == Page.product.value)
        .group_by(PageView.target_id),
        select(
            OrderLine.product_id,
            _zero("views"),
            _zero("visitors"),
            func.count(distinct(OrderLine.order_id)),
            func.sum(OrderLine.quantity),
            func.sum(OrderLine.line_total),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*paid, OrderLine.product_id.is_not(None))
        .group_by(OrderLine.product_id),
    ).subquery()

    # Core tables: an ORM statement given parameters would be taken for a bulk write of rows.
    shops, sources, products = (db.table_of(model) for model in (ShopDay, SourceDay, ProductDay))
    return (
        *(
            delete(table).where(table.c.shop_id == shop, table.c.day == the_day)
            for table in (shops, sources, products)
        ),
        insert(shops).from_select(columns, _totals(both, shop, the_day)),
        insert(sources).from_select(
            ["source", *columns],
            _totals(by_source, shop, the_day, by_source.c.source).group_by(by_source.c.source),
        ),
        insert(products).from_select(
            ["product_id", "shop_id", "day", "views", "visitors", "orders", "units", "turnover"],
            select(
                by_product.c.product_id,
                shop,
                the_day,
                _sum(by_product.c.views),
                _sum(by_product.c.visitors),
                _sum(by_product.c.orders),
                _sum(by_product.c.units),
                _sum(by_product.c.turnover, BigInteger),
            ).group_by(by_product.c.product_id),
        ),
    )


def _totals(
    both: Subquery, shop: ColumnElement[int], the_day: ColumnElement[date], *first: Any
) -> Select[Any]:
    c = both.c
    return select(
        *first,
        shop,
        the_day,
        _sum(c.views),
        _sum(c.visitors),
        _sum(c.orders),
        _sum(c.buyers),
        _sum(c.turnover, BigInteger),
    )


# --- the job's round ---------------------------------------------------------------------------


async def _zones(session: AsyncSession, shop_ids: set[int]) -> dict[int, ZoneInfo]:
    if not shop_ids:
        return {}
    rows = await session.execute(
        select(Shop.id, Shop.timezone).where(Shop.id.in_(sorted(shop_ids)))
    )
    return {shop_id: ZoneInfo(zone) for shop_id, zone in rows}


async def refresh(database: db.Database) -> int:
    """One round: recompute the shop days whose views changed or that had orders paid since
    the last round. Returns how many shop days were recomputed. A shop that fails is logged
    and left for the next round (its marks stay, and the orders are looked at again)."""
    now = clock.now()
    async with database.transaction(write=False) as session:
        until = await session.scalar(select(Progress.until).where(Progress.name == ORDERS_PAID))
        since = until - OVERLAP if until is not None else now - FIRST_LOOK
        paid = list(
            await session.execute(
                select(Order.shop_id, func.min(Order.paid_at), func.max(Order.paid_at))
                .where(Order.paid_at >= since)
                .group_by(Order.shop_id)
            )
        )
        stale = list(
            await session.execute(
                select(StaleDay.shop_id, StaleDay.day, StaleDay.changes)
                .order_by(StaleDay.shop_id, StaleDay.day)
                .limit(STALE_PER_ROUND)
            )
        )
        zones = await _zones(session, {row[0] for row in paid} | {row[0] for row in stale})
    # Per shop: the days to recompute, with the marks they clear.
    work: dict[int, dict[date, int | None]] = {}
    for shop_id, marked, changes in stale:
        work.setdefault(shop_id, {})[marked] = changes
    for shop_id, first, last in paid:
        if first is None or last is None:
            continue  # no order paid (never so: the rows are paid orders')
        zone = zones[shop_id]
        day, final = local_day(first, zone), local_day(last, zone)
        while day <= final:
            work.setdefault(shop_id, {}).setdefault(day, None)
            day += timedelta(days=1)
    done, failed = 0, False
    for shop_id in sorted(work):
        try:
            async with database.transaction() as session:
                for day, seen in sorted(work[shop_id].items()):
                    await recompute(session, shop_id, zones[shop_id], day)
                    if seen is not None:
                        # Views flushed since the round read the mark leave it (and more
                        # changes): the next round sees them.
                        await session.execute(
                            delete(StaleDay).where(
                                StaleDay.shop_id == shop_id,
                                StaleDay.day == day,
                                StaleDay.changes == seen,
                            )
                        )
            done += len(work[shop_id])
        except Exception:
            failed = True
            log.exception("analytics: rollup of shop %s failed", shop_id)
    if not failed:
        async with database.transaction() as session:
            await session.execute(
                db.insert_ignoring(session, db.table_of(Progress)),
                {"name": ORDERS_PAID, "until": now},
            )
            await session.execute(
                update(Progress)
                .where(Progress.name == ORDERS_PAID, Progress.until < now)
                .values(until=now)
            )
    return done


async def backfill(
    database: db.Database, first: date, last: date, *, shop_ids: Sequence[int] | None = None
) -> int:
    """Recompute every day from `first` to `last` (both included) of the shops named, or of
    every shop: after an import, a restore, or a change to what the figures mean. Returns
    how many shop days were written."""
    async with database.transaction(write=False) as session:
        statement = select(Shop.id, Shop.timezone).order_by(Shop.id)
        if shop_ids is not None:
            statement = statement.where(Shop.id.in_(list(shop_ids)))
        shops = [(shop_id, ZoneInfo(zone)) for shop_id, zone in await session.execute(statement)]
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for shop_id, zone in shops:
        async with database.transaction() as session:
            for day in days:
                await recompute(session, shop_id, zone, day)
    return len(shops) * len(days)
