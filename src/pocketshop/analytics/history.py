"""A made-up past for the demo (`pocketshop demo`), so its dashboard is alive from the first
look: the shop's visits of the days before today as page views, and those days' rollups with
sales spread over the sources. The sales have no orders behind them (a rollup job never
recomputes those days: nothing marks them; a backfill over them would keep the views and
drop the made-up sales). Today's figures are the demo's real orders and some views."""

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import db
from pocketshop.analytics.models import (
    SOURCES,
    Page,
    PageView,
    ProductDay,
    ShopDay,
    SourceDay,
    StaleDay,
)
from pocketshop.shops.models import Shop

# How visitors come to a small shop that shares into chats: mostly direct and by customers'
# shares, then its stores' and staff's QR codes and its campaign links.
SOURCE_WEIGHTS = {"direct": 40, "share": 22, "store": 14, "staff": 10, "campaign": 14}


@dataclass(frozen=True)
class Item:
    """A product on sale: its id and the price one unit sells for (fen)."""

    product_id: int
    price: int


@dataclass
class _Day:
    views: int = 0
    visitors: int = 0
    orders: int = 0
    buyers: int = 0
    turnover: int = 0


def _visitor(shop: Shop, day: date, number: int) -> bytes:
    return hashlib.sha256(f"demo:{shop.id}:{day}:{number}".encode()).digest()[:16]


def _visitors_on(rng: random.Random, day: date, ago: int) -> int:
    """A slowly growing shop, busier at the weekend."""
    trend = 150 - ago * 2.5
    weekend = 1.35 if day.weekday() >= 5 else 1.0
    return max(int(trend * weekend * rng.uniform(0.8, 1.2)), 5)


def _views(
    rng: random.Random, shop: Shop, day: date, count: int, items: Sequence[Item]
) -> list[dict[str, Any]]:
    """Each visitor on the shop's home, most on a product page or two."""
    sources, weights = list(SOURCE_WEIGHTS), list(SOURCE_WEIGHTS.values())
    rows = []
    for number in range(count):
        who, source = _visitor(shop, day, number), rng.choices(sources, weights)[0]
        pages = [(Page.home.value, 0)] if rng.random() < 0.75 else []
        seen = rng.sample(list(items), k=min(len(items), rng.choice((0, 1, 1, 2, 3))))
        pages += [(Page.product.value, item.product_id) for item in seen]
        for page, target in pages or [(Page.home.value, 0)]:
            rows.append(
                {
                    "shop_id": shop.id,
                    "day": day,
                    "page": page,
                    "target_id": target,
                    "visitor": who,
                    "source": source,
                }
            )
    return rows


def _figures(views: list[dict[str, Any]], key: str) -> dict[Any, _Day]:
    found: dict[Any, _Day] = {}
    visitors: dict[Any, set[bytes]] = {}
    for row in views:
        group = row[key] if key else None
        found.setdefault(group, _Day()).views += 1
        visitors.setdefault(group, set()).add(row["visitor"])
    for group, who in visitors.items():
        found[group].visitors = len(who)
    return found


async def invent(
    session: AsyncSession,
    shop: Shop,
    items: Sequence[Item],
    *,
    today: date,
    days: int = 30,
    shipping: tuple[int, int] = (800, 9900),
    seed: int = 14,
) -> None:
    """Page views for today and the `days - 1` days before it; rollups for the days before
    (today's are the job's, from today's views and the demo's real orders: `today` is marked
    for it). `shipping` is the fee and the total from which shipping is free."""
    rng = random.Random(seed)  # noqa: S311 -- made-up figures, the same each time
    fee, free_above = shipping
    table = db.table_of(PageView)
    shop_rows, source_rows, product_rows = [], [], []
    for ago in range(days - 1, -1, -1):
        day = today - timedelta(days=ago)
        count = _visitors_on(rng, day, ago)
        if ago == 0:
            count //= 2  # the day so far
        views = _views(rng, shop, day, count, items)
        await session.execute(db.insert_ignoring(session, table), views)
        if ago == 0:
            continue
        whole = _figures(views, "")[None]
        by_source = _figures(views, "source")
        by_product = _figures(
            [row for row in views if row["page"] == Page.product.value], "target_id"
        )
        units: dict[int, int] = {}
        orders_of: dict[int, int] = {}
        turnover_of: dict[int, int] = {}
        # Between 3% and 8% of the day's visitors buy, in one order each (a few in two).
        for _buyer in range(round(whole.visitors * rng.uniform(0.03, 0.08))):
            source = rng.choices(list(SOURCE_WEIGHTS), list(SOURCE_WEIGHTS.values()))[0]
            orders = 2 if rng.random() < 0.1 else 1
            for _order in range(orders):
                item = rng.choice(items)
                quantity = rng.choice((1, 1, 1, 2))
                lines = item.price * quantity
                total = lines + (fee if lines < free_above else 0)
                for figures in (whole, by_source.setdefault(source, _Day())):
                    figures.orders += 1
                    figures.turnover += total
                units[item.product_id] = units.get(item.product_id, 0) + quantity
                orders_of[item.product_id] = orders_of.get(item.product_id, 0) + 1
                turnover_of[item.product_id] = turnover_of.get(item.product_id, 0) + lines
            whole.buyers += 1
            by_source[source].buyers += 1
        base = {"shop_id": shop.id, "day": day}
        shop_rows.append({**base, **vars(whole)})
        source_rows += [
            {**base, "source": source, **vars(figures)}
            for source, figures in by_source.items()
            if source in SOURCES
        ]
        for product_id in sorted(set(by_product) | set(units)):
            seen = by_product.get(product_id, _Day())
            product_rows.append(
                {
                    **base,
                    "product_id": product_id,
                    "views": seen.views,
                    "visitors": seen.visitors,
                    "orders": orders_of.get(product_id, 0),
                    "units": units.get(product_id, 0),
                    "turnover": turnover_of.get(product_id, 0),
                }
            )
    for model, rows in ((ShopDay, shop_rows), (SourceDay, source_rows), (ProductDay, product_rows)):
        if rows:
            await session.execute(insert(model), rows)
    await session.execute(
        db.insert_or_add(session, db.table_of(StaleDay), "changes"),
        {"shop_id": shop.id, "day": today, "changes": 1},
    )
