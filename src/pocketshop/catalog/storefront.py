"""What buyers see: a shop's products on sale, one product with its photos and SKUs.

Lean queries: a grid is one query (the stock sum is a correlated subquery, not N more), a
product with its SKUs and photos one, whatever their number.
"""

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from pocketshop.catalog.models import PlatformCategory, Product, ProductGroup, ProductImage, Sku
from pocketshop.catalog.service import (
    PAGE_SIZE,
    TITLE_MAX,
    ProductStatus,
    spec_text,
)
from pocketshop.db import json_arrays
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, fold, like_pattern


@dataclass(frozen=True)
class GridItem:
    public_id: str
    title: str
    price_min: int
    price_max: int
    cover_key: str | None
    stock: int


@dataclass(frozen=True)
class Grid:
    items: list[GridItem]
    page: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class SkuView:
    """An active SKU as buyers see it (and the cart picks it)."""

    id: int
    public_id: str
    spec_values: list[str]
    price: int
    list_price: int | None
    stock: int
    code: str


@dataclass(frozen=True, slots=True)
class ImageView:
    public_id: str
    key: str
    thumb_key: str
    width: int
    height: int


@dataclass(frozen=True)
class ProductView:
    product: Product
    images: list[ImageView]
    skus: list[SkuView]
    group_id: str | None  # the public ids of its group and platform category, if any
    category: str | None

    @property
    def stock(self) -> int:
        return sum(sku.stock for sku in self.skus)


async def groups_with_products(session: AsyncSession, shop: Shop) -> list[ProductGroup]:
    """The shop's groups that have something on sale, in the merchant's order."""
    on_sale = select(Product.id).where(
        Product.group_id == ProductGroup.id, Product.status == ProductStatus.on_sale.value
    )
    return list(
        await session.scalars(
            select(ProductGroup)
            .where(ProductGroup.shop_id == shop.id, on_sale.exists())
            .order_by(ProductGroup.position, ProductGroup.id)
        )
    )


async def grid(
    session: AsyncSession,
    shop: Shop,
    *,
    group: ProductGroup | None = None,
    query: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> Grid:
    """Products on sale, newest first: all, one group's, or those whose title contains
    `query` (case-insensitive, % and _ literal)."""
    page = max(page, 1)
    stock = (
        select(func.coalesce(func.sum(Sku.stock), 0))
        .where(Sku.product_id == Product.id, Sku.active.is_(True))
        .scalar_subquery()
    )
    statement = select(
        Product.public_id,
        Product.title,
        Product.price_min,
        Product.price_max,
        Product.cover_key,
        stock,
    ).where(Product.shop_id == shop.id, Product.status == ProductStatus.on_sale.value)
    if group is not None:
        statement = statement.where(Product.group_id == group.id)
    if clean_line(query):  # as titles are stored; and PostgreSQL refuses a NUL in text
        pattern = like_pattern(fold(clean_line(query))[:TITLE_MAX])
        statement = statement.where(Product.title_folded.like(pattern, escape="\\"))
    rows = (
        await session.execute(
            statement.order_by(Product.position.desc(), Product.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    ).all()
    items = [GridItem(*row) for row in rows[:per_page]]
    return Grid(items=items, page=page, has_next=len(rows) > per_page)


async def group_by_public_id(session: AsyncSession, shop: Shop, public_id: str) -> ProductGroup:
    group = await session.scalar(
        select(ProductGroup).where(
            ProductGroup.public_id == public_id, ProductGroup.shop_id == shop.id
        )
    )
    if group is None:
        raise NotFound(_("No such group in this shop."), code="group_not_found")
    return group


def public_names() -> tuple[ScalarSelect[str], ScalarSelect[str]]:
    """A product's group (its public id) and platform category (its code), either none, as
    columns of a statement that reads the product."""
    return (
        select(ProductGroup.public_id).where(ProductGroup.id == Product.group_id).scalar_subquery(),
        select(PlatformCategory.code)
        .where(PlatformCategory.id == Product.category_id)
        .scalar_subquery(),
    )


V = TypeVar("V", "SkuView", "ImageView")


def _json_rows(
    model: type[Sku] | type[ProductImage],
    view: type[SkuView] | type[ImageView],
    *criteria: ColumnElement[bool],
) -> ScalarSelect[Any]:
    """A product's rows of `model` as JSON arrays of the `view` dataclass's fields (named as
    the model's columns), each followed by (position, id) to sort them by."""
    columns = [getattr(model, field.name) for field in fields(view)]
    return (
        select(json_arrays(*columns, model.position, model.id))
        .where(model.product_id == Product.id, *criteria)
        .scalar_subquery()
    )


def _views(view: type[V], rows: list[list[Any]]) -> list[V]:
    """`_json_rows`' rows as `view`s, in (position, id) order."""
    count = len(fields(view))
    return [view(*row[:count]) for row in sorted(rows, key=lambda row: row[count:])]


# Built once: building a statement costs more than running it (0.25 ms against 0.05 ms).
_ON_SALE = select(
    Product,
    _json_rows(Sku, SkuView, Sku.active.is_(True)),
    _json_rows(ProductImage, ImageView),
    *public_names(),
).where(
    Product.public_id == bindparam("public_id"),
    Product.shop_id == bindparam("shop_id"),
    Product.status == ProductStatus.on_sale.value,
)


async def product_view(session: AsyncSession, shop: Shop, public_id: str) -> ProductView:
    """A product on sale in this shop; drafts, off-shelf and other shops' products are 404.
    The product, its SKUs, photos and names in one statement: each costs more than its rows
    here."""
    row = (await session.execute(_ON_SALE, {"public_id": public_id, "shop_id": shop.id})).first()
    if row is None:
        raise NotFound(
            _("This product is not on sale, or does not exist."), code="product_not_found"
        )
    product, skus, images, group_id, category = row
    return ProductView(
        product=product,
        images=_views(ImageView, images),
        skus=_views(SkuView, skus),
        group_id=group_id,
        category=category,
    )


# --- the buyer's SKU choice ------------------------------------------------------------


def choose_sku(view: ProductView, values: list[str], quantity: int) -> SkuView:
    """The SKU a buyer picked by its spec values (one per dimension, in order), refused with a
    clear message when a value is missing, the combination is not sold, or too few are left."""
    dimensions = view.product.specs or []
    chosen = [value.strip() for value in values[: len(dimensions)]]
    for index, dimension in enumerate(dimensions):
        if index >= len(chosen) or not chosen[index]:
            raise InvalidInput(
                _("Choose a %(name)s.", name=dimension["name"]),
                code="spec_required",
                field=f"spec{index}",
            )
    sku = next((sku for sku in view.skus if list(sku.spec_values) == chosen), None)
    if sku is None:
        raise InvalidInput(_("This combination is not sold. Choose another."), code="sku_not_found")
    label = spec_text(list(sku.spec_values)) or view.product.title
    if sku.stock <= 0:
        raise Conflict(_("Sold out: “%(spec)s”. Choose another.", spec=label), code="sold_out")
    if sku.stock < quantity:
        raise Conflict(
            _("Only %(left)s left of “%(spec)s”.", left=sku.stock, spec=label),
            code="not_enough_stock",
            field="quantity",
        )
    return sku
