"""Stock for orders: reserved by one conditional UPDATE whose row count is checked.

SQLite ignores SELECT ... FOR UPDATE, so nothing here reads a stock level and writes it back:
the database decides, in one statement, whether the units are there.
"""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache
from pocketshop.catalog.models import Product, Sku


@dataclass(frozen=True)
class Purchasable:
    """A SKU with what an order line copies from its product."""

    sku: Sku
    product: Product


async def purchasables(
    session: AsyncSession, shop_id: int, sku_public_ids: list[str]
) -> dict[str, Purchasable]:
    """The shop's SKUs by public id, with their products, in one query. Another shop's SKU is
    simply absent."""
    if not sku_public_ids:
        return {}
    rows = await session.execute(
        select(Sku, Product)
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.public_id.in_(set(sku_public_ids)), Sku.shop_id == shop_id)
    )
    return {sku.public_id: Purchasable(sku, product) for sku, product in rows}


async def reserve(session: AsyncSession, sku: Sku, quantity: int) -> bool:
    """Take `quantity` units if they are there; False (and nothing taken) when they are not."""
    result = await session.execute(
        update(Sku)
        .where(Sku.id == sku.id, Sku.active.is_(True), Sku.stock >= quantity)
        .values(stock=Sku.stock - quantity)
        .returning(Sku.stock)
        .execution_options(synchronize_session=False)
    )
    left = result.scalar_one_or_none()
    if left is None:
        return False
    tags = [cache.product_tag(sku.product_id)]
    if left == 0:
        tags.append(cache.shop_tag(sku.shop_id))  # the grid may now show "sold out"
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
    tags = [cache.product_tag(product_id)]
    if left == quantity:
        tags.append(cache.shop_tag(shop_id))  # back from sold out
    cache.invalidate(session, *tags)
