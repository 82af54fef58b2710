"""Stock for orders: reserved by one conditional UPDATE whose row count is checked.

SQLite ignores SELECT ... FOR UPDATE, so nothing here reads a stock level and writes it back:
the database decides, in one statement, whether the units are there.
"""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.catalog.models import Product, Sku
from pocketshop.catalog.service import ProductStatus
from pocketshop.db import table_of
from pocketshop.notifications import service as notifications
from pocketshop.notifications.events import Event

# Storefront pages give the number of units only at or below this ("only 3 left"); above it
# they say "in stock". So an order changes a cached page only when it takes a SKU into the
# low range: during a sale the product page stays cached instead of being dropped by every
# order.
LOW_STOCK = 5


def shown(units: int) -> int:
    """What a storefront page may know of a stock level: exact when low, else "more"."""
    return min(units, LOW_STOCK + 1)


@dataclass(frozen=True)
class Purchasable:
    """A SKU with what an order line copies from its product."""

    sku_id: int
    public_id: str
    shop_id: int
    product_id: int
    product_public_id: str
    title: str
    cover_key: str | None
    spec_values: list[str]
    price: int
    stock: int
    # The SKU still stands for a spec value, and its product is on sale.
    sellable: bool
    # Only the product's status keeps it from being sold (off the shelf, or a draft).
    off_shelf: bool


# The statements of the order path, Core and built once: building a statement, or loading ORM
# objects from it, costs more CPU than running it.
_sku_table = table_of(Sku)
_product_table = table_of(Product)
_skus = _sku_table.c
_products = _product_table.c
_PURCHASABLE_COLUMNS = (
    select(
        _skus.id,
        _skus.public_id,
        _skus.shop_id,
        _skus.product_id,
        _products.public_id.label("product_public_id"),
        _products.title,
        _products.cover_key,
        _skus.spec_values,
        _skus.price,
        _skus.stock,
        _skus.active,
        _products.status,
    )
    .join_from(_sku_table, _product_table, _products.id == _skus.product_id)
    .where(_skus.shop_id == bindparam("shop_id"))
)
# One SKU (most orders: "buy now") by equality: an expanding IN list is rendered anew on
# every execution.
_PURCHASABLE = _PURCHASABLE_COLUMNS.where(_skus.public_id == bindparam("public_id"))
_PURCHASABLES = _PURCHASABLE_COLUMNS.where(
    _skus.public_id.in_(bindparam("public_ids", expanding=True))
)
_RESERVE = (
    update(_sku_table)
    .where(
        _skus.id == bindparam("sku_id"),
        _skus.active.is_(True),
        _skus.stock >= bindparam("quantity"),
    )
    .values(stock=_skus.stock - bindparam("quantity"))
    .returning(_skus.stock)
)


async def purchasables(
    session: AsyncSession, shop_id: int, sku_public_ids: list[str]
) -> dict[str, Purchasable]:
    """The shop's SKUs by public id, with their products, in one query. Another shop's SKU is
    simply absent."""
    rows = await purchasable_rows(session, shop_id, sku_public_ids)
    return {item.public_id: item for item in map(purchasable_of, rows)}


async def purchasable_rows(
    session: AsyncSession,
    shop_id: int,
    sku_public_ids: list[str],
    *,
    also: tuple[ColumnElement[Any], ...] = (),
    params: Mapping[str, Any] | None = None,
) -> Sequence[Row[Any]]:
    """The rows `purchasables` reads, with more columns a caller needs in the same statement
    (`also`, taking `params`): each row gives a Purchasable through `purchasable_of`."""
    if not sku_public_ids:
        return []
    one, many = _lookups(also)
    wanted = sorted(set(sku_public_ids))
    given = {**(params or {}), "shop_id": shop_id}
    if len(wanted) == 1:
        found = await session.execute(one, {**given, "public_id": wanted[0]})
    else:
        found = await session.execute(many, {**given, "public_ids": wanted})
    rows: Sequence[Row[Any]] = found.all()
    return rows


@functools.cache
def _lookups(also: tuple[ColumnElement[Any], ...]) -> tuple[Select[Any], Select[Any]]:
    """The statements for one SKU and for several, with `also`: built once per `also`."""
    return _PURCHASABLE.add_columns(*also), _PURCHASABLES.add_columns(*also)


def purchasable_of(row: Any) -> Purchasable:
    on_sale = row.status == ProductStatus.on_sale
    return Purchasable(
        sku_id=row.id,
        public_id=row.public_id,
        shop_id=row.shop_id,
        product_id=row.product_id,
        product_public_id=row.product_public_id,
        title=row.title,
        cover_key=row.cover_key,
        spec_values=row.spec_values,
        price=row.price,
        stock=row.stock,
        sellable=row.active and on_sale,
        off_shelf=row.active and not on_sale,
    )


async def reserve(session: AsyncSession, item: Purchasable, quantity: int) -> bool:
    """Take `quantity` units if they are there; False (and nothing taken) when they are not."""
    result = await session.execute(_RESERVE, {"sku_id": item.sku_id, "quantity": quantity})
    left = result.scalar_one_or_none()
    if left is None:
        return False
    if left <= LOW_STOCK < left + quantity:
        notifications.notify(
            session,
            Event.low_stock,
            f"{item.public_id}:{clock.now().isoformat()}",
            {
                "title": item.title,
                "spec": " ".join(item.spec_values),
                "left": left,
                "product": item.product_public_id,
            },
            shop_id=item.shop_id,
        )
    if left <= LOW_STOCK:
        tags = [cache.product_tag(item.product_id)]
        if left == 0:
            tags.append(cache.shop_tag(item.shop_id))  # the grid may now show "sold out"
        cache.invalidate(session, *tags)
    return True


async def release(session: AsyncSession, sku_id: int, product_id: int, quantity: int) -> None:
    """Put units back (an order closed). The caller guarantees once: it releases only after
    winning the order's own conditional state change."""
    result = await session.execute(
        update(Sku)
        .where(Sku.id == sku_id)
        .values(stock=Sku.stock + quantity)
        .returning(Sku.stock, Sku.shop_id)
        .execution_options(synchronize_session=False)
    )
    left, shop_id = result.one()
    if shown(left - quantity) != shown(left):
        tags = [cache.product_tag(product_id)]
        if left == quantity:
            tags.append(cache.shop_tag(shop_id))  # back from sold out
        cache.invalidate(session, *tags)


async def sellable(session: AsyncSession, shop_id: int, *, limit: int = 300) -> list[Purchasable]:
    """The shop's SKUs on sale, in shelf order (a merchant picking products to ask for)."""
    rows = await session.execute(
        _PURCHASABLE_COLUMNS.where(
            _skus.active.is_(True), _products.status == ProductStatus.on_sale.value
        )
        .order_by(_products.position, _products.id, _skus.position, _skus.id)
        .limit(limit),
        {"shop_id": shop_id},
    )
    return [purchasable_of(row) for row in rows]
