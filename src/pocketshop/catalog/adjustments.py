"""Stock changed by hand (restock, count correction, damage...), each logged with a reason."""

from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.catalog.models import Product, Sku, StockAdjustment
from pocketshop.catalog.service import STOCK_MAX, get_or_404
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, too_long

ADJUSTMENT_NOTE_MAX = 200


class AdjustmentReason(StrEnum):
    restock = "restock"
    correction = "correction"
    damaged = "damaged"
    returned = "returned"
    other = "other"


ADJUSTMENT_REASONS = {
    AdjustmentReason.restock: N_("Restock"),
    AdjustmentReason.correction: N_("Stock count correction"),
    AdjustmentReason.damaged: N_("Damaged or lost"),
    AdjustmentReason.returned: N_("Returned to stock"),
    AdjustmentReason.other: N_("Other"),
}


async def adjust_stock(
    session: AsyncSession,
    shop: Shop,
    sku_public_id: str,
    *,
    delta: int,
    reason: AdjustmentReason,
    note: str = "",
    user_id: int | None = None,
    product: Product | None = None,
) -> StockAdjustment:
    """Add or remove units by hand. One conditional UPDATE, so a sale at the same moment is
    neither overwritten nor able to take the stock below zero. With `product` (a form on its
    editor), the SKU must be one of that product's."""
    sku = await session.scalar(
        select(Sku).where(Sku.public_id == sku_public_id, Sku.shop_id == shop.id)
    )
    if sku is not None and product is not None and sku.product_id != product.id:
        sku = None
    if sku is None and product is not None:
        raise InvalidInput(_("Choose a SKU of this product."), code="sku_not_found", field="sku")
    if sku is None:
        raise NotFound(_("No such SKU in your shop."), code="sku_not_found")
    if delta == 0 or abs(delta) > STOCK_MAX:
        raise InvalidInput(
            _("Change the stock by 1 to %(max)s units.", max=STOCK_MAX),
            code="invalid_delta",
            field="delta",
        )
    cleaned_note = clean_line(note)
    if too_long(cleaned_note, ADJUSTMENT_NOTE_MAX):
        raise InvalidInput(
            _("The note can have at most %(max)s characters.", max=ADJUSTMENT_NOTE_MAX),
            code="note_too_long",
            field="note",
        )
    result = await session.execute(
        update(Sku)
        .where(Sku.id == sku.id, Sku.stock + delta >= 0, Sku.stock + delta <= STOCK_MAX)
        .values(stock=Sku.stock + delta)
        .returning(Sku.stock)
    )
    stock_after = result.scalar_one_or_none()
    if stock_after is None:
        raise Conflict(
            _("Stock cannot go below zero or above %(max)s.", max=STOCK_MAX),
            code="stock_out_of_range",
        )
    adjustment = StockAdjustment(
        shop_id=shop.id,
        sku_id=sku.id,
        delta=delta,
        stock_after=stock_after,
        reason=reason.value,
        note=cleaned_note,
        user_id=user_id,
        created_at=clock.now(),
    )
    session.add(adjustment)
    await session.flush()
    cache.invalidate(session, cache.product_tag(sku.product_id), cache.shop_tag(shop.id))
    return adjustment


async def stock_history(
    session: AsyncSession, shop: Shop, public_id: str, *, limit: int = 50
) -> list[tuple[StockAdjustment, Sku]]:
    product = await get_or_404(session, shop, public_id)
    rows = await session.execute(
        select(StockAdjustment, Sku)
        .join(Sku, Sku.id == StockAdjustment.sku_id)
        .where(Sku.product_id == product.id, StockAdjustment.shop_id == shop.id)
        .order_by(StockAdjustment.id.desc())
        .limit(limit)
    )
    return [(adjustment, sku) for adjustment, sku in rows]
