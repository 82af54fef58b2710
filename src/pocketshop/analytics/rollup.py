"""The daily rollups, recomputed from their sources: a day of a set of shops is deleted and
written again by three INSERT … SELECT statements (the shops, their sources, their
products), each one aggregate over the day's page views and the orders paid that day,
grouped by shop. The same statements on both databases; rerunning them changes nothing.

`refresh` is the job's round: the days whose views changed (marked by each flush of views)
and the days of orders paid since the last round (with a minute's overlap, for a payment
committed late) are recomputed, every shop of a day (and time zone) in one transaction,
in statements that do not grow with the number of shops: a thousand shops seen since the
last round are a few statements, not a few thousand. `backfill` recomputes a range of
days, for every shop or some.

What the figures mean:
- views: (visitor, page) pairs seen that day, each page once a day per visitor;
- visitors: distinct visitors that day (the day's salt: a visitor of two days is two);
- orders: orders paid that day (whatever happened to them later), by when they were paid;
- buyers: distinct buyers of those orders;
- turnover: what those orders cost their buyers, shipping included (fen); a product's is its
  lines' totals. Refunds are not taken off.
A shop with nothing seen or paid that day has no rollup row that day (the readers take it
as zeros).
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
STALE_PER_ROUND = 5_000
SHOPS_PER_STATEMENT = 500  # shops of a day recomputed by one set of statements
ROLLUP_LOCK = 140  # db.serialize space: one rollup at a time
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


async def recompute(
    session: AsyncSession, shop_ids: Sequence[int], zone: ZoneInfo, day: date
) -> None:
    """The rollups of `day` (in `zone`, the shops' time zone) of these shops, written again
    from the page views and paid orders."""
    # One rollup at a time: two would delete and insert the same rows.
    await db.serialize(session, ROLLUP_LOCK, "rollup")
    start, end = bounds(day, zone)
    ids = sorted(set(shop_ids))
    for first in range(0, len(ids), SHOPS_PER_STATEMENT):
        chunk = ids[first : first + SHOPS_PER_STATEMENT]
        params = {"shop_ids": chunk, "day": day, "start": start, "end": end}
        for statement in _statements():
            await session.execute(statement, params)


@functools.cache
def _statements() -> tuple[Executable, ...]:
    """The deletes and the three INSERT … SELECT, made once: parameters `shop_ids` (a list),
    `day` and the day's `start` and `end` (a statement built on each call costs SQLAlchemy
    more CPU than running it)."""
    shops = bindparam("shop_ids", expanding=True, type_=Integer)
    the_day = bindparam("day", type_=Date)
    seen = (PageView.shop_id.in_(shops), PageView.day == the_day)
    paid = (
        Order.shop_id.in_(shops),
        Order.paid_at >= bindparam("start"),
        Order.paid_at < bindparam("end"),
    )

    both = union_all(
        select(
            PageView.shop_id.label("shop_id"),
            func.count().label("views"),
            func.count(distinct(PageView.visitor)).label("visitors"),
            _zero("orders"),
            _zero("buyers"),
            _zero("turnover"),
        )
        .where(*seen)
        .group_by(PageView.shop_id),
        select(
            Order.shop_id,
            _zero("views"),
            _zero("visitors"),
            func.count(),
            func.count(distinct(Order.buyer_id)),
            func.sum(Order.total),
        )
        .where(*paid)
        .group_by(Order.shop_id),
    ).subquery()

    by_source = union_all(
        select(
            PageView.shop_id.label("shop_id"),
            PageView.source.label("source"),
            func.count().label("views"),
            func.count(distinct(PageView.visitor)).label("visitors"),
            _zero("orders"),
            _zero("buyers"),
            _zero("turnover"),
        )
        .where(*seen)
        .group_by(PageView.shop_id, PageView.source),
        select(
            Order.shop_id,
            func.coalesce(Order.referral_kind, DIRECT),
            _zero("views"),
            _zero("visitors"),
            func.count(),
            func.count(distinct(Order.buyer_id)),
            func.sum(Order.total),
        )
        .where(*paid)
        .group_by(Order.shop_id, Order.referral_kind),
    ).subquery()

    by_product = union_all(
        select(
            PageView.shop_id.label("shop_id"),
            PageView.target_id.label("product_id"),
            func.count().label("views"),
            func.count(distinct(PageView.visitor)).label("visitors"),
            _zero("orders"),
            _zero("units"),
            _zero("turnover"),
        )
        .where(*seen, PageView.page == Page.product.value)
        .group_by(PageView.shop_id, PageView.target_id),
        select(
            Order.shop_id,
            OrderLine.product_id,
            _zero("views"),
            _zero("visitors"),
            func.count(distinct(OrderLine.order_id)),
            func.sum(OrderLine.quantity),
            func.sum(OrderLine.line_total),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*paid, OrderLine.product_id.is_not(None))
        .group_by(Order.shop_id, OrderLine.product_id),
    ).subquery()

    # Core tables: an ORM statement given parameters would be taken for a bulk write of rows.
    shop_days, sources, products = (
        db.table_of(model) for model in (ShopDay, SourceDay, ProductDay)
    )
    figures = ["views", "visitors", "orders", "buyers", "turnover"]
    return (
        *(
            delete(table).where(table.c.shop_id.in_(shops), table.c.day == the_day)
            for table in (shop_days, sources, products)
        ),
        insert(shop_days).from_select(
            ["shop_id", "day", *figures], _totals(both, the_day, both.c.shop_id)
        ),
        insert(sources).from_select(
            ["shop_id", "day", "source", *figures],
            _totals(by_source, the_day, by_source.c.shop_id, by_source.c.source),
        ),
        insert(products).from_select(
            ["shop_id", "day", "product_id", "views", "visitors", "orders", "units", "turnover"],
            _totals(by_product, the_day, by_product.c.shop_id, by_product.c.product_id, units=True),
        ),
    )


def _totals(
    rows: Subquery, the_day: ColumnElement[date], *keys: Any, units: bool = False
) -> Select[Any]:
    """The subquery's figures added up per `keys` (the shop first), with the day after it."""
    c = rows.c
    counted = (c.views, c.visitors, c.orders, c.units if units else c.buyers)
    return select(
        keys[0],
        the_day,
        *keys[1:],
        *(_sum(column) for column in counted),
        _sum(c.turnover, BigInteger),
    ).group_by(*keys)


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
    the last round. Returns how many shop days were recomputed. A day that fails is logged
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
    # Per time zone and day: the shops to recompute, with the marks they clear.
    work: dict[tuple[str, date], dict[int, int | None]] = {}
    for shop_id, marked, changes in stale:
        work.setdefault((zones[shop_id].key, marked), {})[shop_id] = changes
    for shop_id, first, last in paid:
        if first is None or last is None:
            continue  # no order paid (never so: the rows are paid orders')
        zone = zones[shop_id]
        day, final = local_day(first, zone), local_day(last, zone)
        while day <= final:
            work.setdefault((zone.key, day), {}).setdefault(shop_id, None)
            day += timedelta(days=1)
    done, failed = 0, False
    for (zone_name, day), shops in sorted(work.items()):
        marks = [
            {"shop_id": shop_id, "day": day, "changes": seen}
            for shop_id, seen in sorted(shops.items())
            if seen is not None
        ]
        try:
            async with database.transaction() as session:
                await recompute(session, list(shops), ZoneInfo(zone_name), day)
                if marks:
                    # Views flushed since the round read a mark leave it (and more changes):
                    # the next round sees them.
                    await session.execute(_CLEAR_MARK, marks)
            done += len(shops)
        except Exception:
            failed = True
            log.exception("analytics: rollup of %s (%s shops) failed", day, len(shops))
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


_MARKS = db.table_of(StaleDay)
_CLEAR_MARK = delete(_MARKS).where(
    _MARKS.c.shop_id == bindparam("shop_id", type_=Integer),
    _MARKS.c.day == bindparam("day", type_=Date),
    _MARKS.c.changes == bindparam("changes", type_=Integer),
)


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
        by_zone: dict[str, list[int]] = {}
        for shop_id, zone in await session.execute(statement):
            by_zone.setdefault(zone, []).append(shop_id)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for zone, shops in sorted(by_zone.items()):
        for day in days:
            async with database.transaction() as session:
                await recompute(session, shops, ZoneInfo(zone), day)
    return sum(len(shops) for shops in by_zone.values()) * len(days)
