"""Products, their SKU matrix and photos: the merchant's side of the catalog.

Groups and categories live in `groups.py`, stock adjustments in `adjustments.py`, storefront
reads in `storefront.py`, stock reservations for orders in `stock.py`.
"""

import itertools
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.catalog import description as description_
from pocketshop.catalog import groups, photos
from pocketshop.catalog.models import (
    Product,
    ProductImage,
    Sku,
)
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, code_point_cap, fold, like_pattern, too_long

TITLE_MAX = 60
TITLE_FOLDED_MAX = code_point_cap(TITLE_MAX)  # the column's size
DESCRIPTION_MAX = description_.DESCRIPTION_MAX
MAX_IMAGES = 9
MAX_DIMENSIONS = 3
MAX_VALUES = 20
MAX_SKUS = 400
SPEC_NAME_MAX = 10
SPEC_VALUE_MAX = 20
SKU_CODE_MAX = 40
PRICE_MAX = 100_000_000  # ¥1,000,000 a piece
STOCK_MAX = 1_000_000
PAGE_SIZE = 20


class ProductStatus(StrEnum):
    draft = "draft"
    on_sale = "on_sale"
    off_shelf = "off_shelf"


STATUS_LABELS = {
    ProductStatus.draft: N_("Draft"),
    ProductStatus.on_sale: N_("On sale"),
    ProductStatus.off_shelf: N_("Off shelf"),
}

# (from, to): what a merchant may do with a product's status.
STATUS_TRANSITIONS = frozenset(
    {
        (ProductStatus.draft, ProductStatus.on_sale),
        (ProductStatus.on_sale, ProductStatus.off_shelf),
        (ProductStatus.off_shelf, ProductStatus.on_sale),
    }
)


@dataclass(frozen=True)
class SpecDimension:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SkuInput:
    spec: tuple[str, ...]
    price: int
    list_price: int | None = None
    stock: int = 0
    code: str = ""


@dataclass(frozen=True)
class ProductInput:
    title: str
    description: str = ""
    group_id: str | None = None
    category_code: str | None = None
    specs: tuple[SpecDimension, ...] = ()
    skus: tuple[SkuInput, ...] = field(default_factory=tuple)


def clean_description(html: str) -> str:
    """Formatted text from the editor or the API, cleaned (description.clean)."""
    return description_.clean(html)


def spec_key(values: tuple[str, ...] | list[str]) -> str:
    return "\x1f".join(values)


def spec_text(values: list[str]) -> str:
    return " / ".join(values)


# --- validation -------------------------------------------------------------------------------


def _validate_title(title: str) -> str:
    cleaned = clean_line(title)
    if not cleaned:
        raise InvalidInput(_("Enter a product title."), code="title_required", field="title")
    if too_long(cleaned, TITLE_MAX):
        raise InvalidInput(
            _("The title can have at most %(max)s characters.", max=TITLE_MAX),
            code="title_too_long",
            field="title",
        )
    return cleaned


def _validate_specs(specs: tuple[SpecDimension, ...]) -> tuple[SpecDimension, ...]:
    if len(specs) > MAX_DIMENSIONS:
        raise InvalidInput(
            _("A product can have at most %(max)s specs.", max=MAX_DIMENSIONS),
            code="too_many_specs",
            field="specs",
        )
    cleaned: list[SpecDimension] = []
    for dimension in specs:
        name = clean_line(dimension.name)
        values = tuple(clean_line(value) for value in dimension.values)
        if not name or too_long(name, SPEC_NAME_MAX):
            raise InvalidInput(
                _("A spec needs a name of at most %(max)s characters.", max=SPEC_NAME_MAX),
                code="invalid_spec",
                field="specs",
            )
        if not values or len(values) > MAX_VALUES:
            raise InvalidInput(
                _("Each spec needs 1 to %(max)s values.", max=MAX_VALUES),
                code="invalid_spec",
                field="specs",
            )
        if any(not value or too_long(value, SPEC_VALUE_MAX) for value in values):
            raise InvalidInput(
                _("A spec value must have 1 to %(max)s characters.", max=SPEC_VALUE_MAX),
                code="invalid_spec",
                field="specs",
            )
        if len({fold(value) for value in values}) != len(values):
            raise InvalidInput(
                _("The values of “%(name)s” repeat.", name=name), code="invalid_spec", field="specs"
            )
        cleaned.append(SpecDimension(name=name, values=values))
    if len({fold(dimension.name) for dimension in cleaned}) != len(cleaned):
        raise InvalidInput(_("Two specs have the same name."), code="invalid_spec", field="specs")
    return tuple(cleaned)


def _validate_skus(specs: tuple[SpecDimension, ...], skus: tuple[SkuInput, ...]) -> list[SkuInput]:
    """Every combination of the spec values exactly once, in matrix order."""
    matrix = [tuple(combo) for combo in itertools.product(*(d.values for d in specs))]
    if len(matrix) > MAX_SKUS:
        raise InvalidInput(
            _("Too many combinations: at most %(max)s.", max=MAX_SKUS),
            code="too_many_skus",
            field="specs",
        )
    given: dict[str, SkuInput] = {}
    for sku in skus:
        key = spec_key(tuple(clean_line(value) for value in sku.spec))
        if key in given:
            raise InvalidInput(_("A combination appears twice."), code="invalid_sku", field="skus")
        given[key] = sku
    if set(given) != {spec_key(combo) for combo in matrix}:
        raise InvalidInput(
            _("Give a price and stock for every combination of the specs, and no others."),
            code="invalid_sku",
            field="skus",
        )
    ordered = []
    for combo in matrix:
        sku = given[spec_key(combo)]
        if not 1 <= sku.price <= PRICE_MAX:
            raise InvalidInput(
                _("A price must be between ¥0.01 and ¥1,000,000."),
                code="invalid_price",
                field="skus",
            )
        if sku.list_price is not None and not sku.price <= sku.list_price <= PRICE_MAX:
            raise InvalidInput(
                _("The list price must not be below the price."),
                code="invalid_list_price",
                field="skus",
            )
        if not 0 <= sku.stock <= STOCK_MAX:
            raise InvalidInput(
                _("Stock must be between 0 and %(max)s.", max=STOCK_MAX),
                code="invalid_stock",
                field="skus",
            )
        code = clean_line(sku.code)
        if too_long(code, SKU_CODE_MAX):
            raise InvalidInput(
                _("A SKU code can have at most %(max)s characters.", max=SKU_CODE_MAX),
                code="invalid_sku",
                field="skus",
            )
        ordered.append(
            SkuInput(
                spec=combo, price=sku.price, list_price=sku.list_price, stock=sku.stock, code=code
            )
        )
    return ordered


# --- products ---------------------------------------------------------------------------------


async def get_or_404(session: AsyncSession, shop: Shop, public_id: str) -> Product:
    """A product of the merchant's own shop; another shop's product is simply not found."""
    product = await session.scalar(
        select(Product).where(Product.public_id == public_id, Product.shop_id == shop.id)
    )
    if product is None:
        raise NotFound(_("No such product in your shop."), code="product_not_found")
    return product


# Built once, as every statement on the storefront's path: building one costs more than
# running it (0.25 ms against 0.05 ms).
_SKUS = select(Sku).where(Sku.product_id == bindparam("product_id")).order_by(Sku.position, Sku.id)
_ACTIVE_SKUS = _SKUS.where(Sku.active.is_(True))
_IMAGES = (
    select(ProductImage)
    .where(ProductImage.product_id == bindparam("product_id"))
    .order_by(ProductImage.position, ProductImage.id)
)


async def skus_of(
    session: AsyncSession, product: Product, *, active_only: bool = True
) -> list[Sku]:
    query = _ACTIVE_SKUS if active_only else _SKUS
    return list(await session.scalars(query, {"product_id": product.id}))


async def images_of(session: AsyncSession, product: Product) -> list[ProductImage]:
    return list(await session.scalars(_IMAGES, {"product_id": product.id}))


async def create(
    session: AsyncSession, shop: Shop, data: ProductInput, *, user_id: int | None = None
) -> Product:
    title = _validate_title(data.title)
    description = clean_description(data.description)
    specs = _validate_specs(data.specs)
    skus = _validate_skus(specs, data.skus)
    now = clock.now()
    last_position = await session.scalar(
        select(func.max(Product.position)).where(Product.shop_id == shop.id)
    )
    product = Product(
        shop_id=shop.id,
        group_id=await groups.group_id_of(session, shop, data.group_id),
        category_id=await groups.category_id_of(session, data.category_code),
        title=title,
        title_folded=fold(title)[:TITLE_FOLDED_MAX],
        description_html=description,
        status=ProductStatus.draft.value,
        specs=[{"name": d.name, "values": list(d.values)} for d in specs],
        position=(last_position or 0) + 1,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    await session.flush()
    for position, sku in enumerate(skus):
        session.add(
            Sku(
                shop_id=shop.id,
                product_id=product.id,
                spec_values=list(sku.spec),
                spec_key=spec_key(sku.spec),
                price=sku.price,
                list_price=sku.list_price,
                stock=sku.stock,
                code=sku.code,
                position=position,
                active=True,
            )
        )
    await session.flush()
    _denormalise_prices(product, skus)
    await session.flush()
    return product


def _denormalise_prices(product: Product, skus: list[SkuInput]) -> None:
    product.price_min = min(sku.price for sku in skus)
    product.price_max = max(sku.price for sku in skus)


async def edit(session: AsyncSession, shop: Shop, public_id: str, data: ProductInput) -> Product:
    """Edit title, description, group, specs and prices. Existing SKUs keep their stock (it
    changes through `adjust_stock` only, so a sale made meanwhile is never overwritten); a
    removed combination is deactivated, kept for the orders that name it."""
    product = await get_or_404(session, shop, public_id)
    title = _validate_title(data.title)
    description = clean_description(data.description)
    specs = _validate_specs(data.specs)
    skus = _validate_skus(specs, data.skus)
    # Resolved before anything changes: a refused edit must leave the product as it was.
    group_id = await groups.group_id_of(session, shop, data.group_id)
    category_id = await groups.category_id_of(session, data.category_code)
    existing = {sku.spec_key: sku for sku in await skus_of(session, product, active_only=False)}
    wanted = {spec_key(sku.spec) for sku in skus}
    for position, given in enumerate(skus):
        key = spec_key(given.spec)
        row = existing.get(key)
        if row is None:
            session.add(
                Sku(
                    shop_id=shop.id,
                    product_id=product.id,
                    spec_values=list(given.spec),
                    spec_key=key,
                    price=given.price,
                    list_price=given.list_price,
                    stock=given.stock,
                    code=given.code,
                    position=position,
                    active=True,
                )
            )
            continue
        row.price = given.price
        row.list_price = given.list_price
        row.code = given.code
        row.position = position
        row.active = True
    for key, row in existing.items():
        if key not in wanted:
            row.active = False
    product.title = title
    product.title_folded = fold(title)[:TITLE_FOLDED_MAX]
    product.description_html = description
    product.group_id = group_id
    product.category_id = category_id
    product.specs = [{"name": d.name, "values": list(d.values)} for d in specs]
    product.updated_at = clock.now()
    _denormalise_prices(product, skus)
    await session.flush()
    cache.invalidate(session, cache.product_tag(product.id), cache.shop_tag(shop.id))
    return product


async def set_status(
    session: AsyncSession, shop: Shop, public_id: str, status: ProductStatus
) -> Product:
    product = await get_or_404(session, shop, public_id)
    current = ProductStatus(product.status)
    if (current, status) not in STATUS_TRANSITIONS:
        raise Conflict(
            _(
                "A product that is “%(current)s” cannot become “%(wanted)s”.",
                current=_(STATUS_LABELS[current]),
                wanted=_(STATUS_LABELS[status]),
            ),
            code="invalid_transition",
        )
    result = await session.execute(
        update(Product)
        .where(Product.id == product.id, Product.status == current.value)
        .values(status=status.value, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(_("The product changed meanwhile; try again."), code="changed_meanwhile")
    # Counted with the product's row held (PostgreSQL): a photo removed at the same moment
    # (remove_image holds the row too) is either seen gone here or refused there.
    if status is ProductStatus.on_sale and not await _has_photo(session, product):
        raise photo_required()
    await session.refresh(product)
    cache.invalidate(session, cache.product_tag(product.id), cache.shop_tag(shop.id))
    return product


def photo_required() -> Conflict:
    return Conflict(
        _("A product on sale needs at least one photo."),
        code="photo_required",
        field="images",
    )


async def _has_photo(session: AsyncSession, product: Product) -> bool:
    first = await session.scalar(
        select(ProductImage.id).where(ProductImage.product_id == product.id).limit(1)
    )
    return first is not None


async def add_images(
    session: AsyncSession, shop: Shop, public_id: str, stored: list[photos.StoredPhoto]
) -> list[ProductImage]:
    """Photos processed and staged before this transaction (photos.prepare, photos.stage)
    join the product; refused (422) beyond MAX_IMAGES, the staged files then discarded."""
    product = await get_or_404(session, shop, public_id)
    # Two uploads at once then count each other's photos and cannot pass the limit together.
    await _hold(session, product)
    current = await images_of(session, product)
    if not stored:
        raise no_images()
    if len(current) + len(stored) > MAX_IMAGES:
        raise InvalidInput(
            _("A product can have at most %(max)s photos.", max=MAX_IMAGES),
            code="too_many_images",
            field="images",
        )
    added = []
    next_position = max((image.position for image in current), default=-1) + 1
    for offset, photo in enumerate(stored):
        image = ProductImage(
            shop_id=shop.id,
            product_id=product.id,
            key=photo.key,
            thumb_key=photo.thumb_key,
            width=photo.width,
            height=photo.height,
            position=next_position + offset,
        )
        session.add(image)
        added.append(image)
    await session.flush()
    await _refresh_cover(session, product)
    return added


async def _hold(session: AsyncSession, product: Product) -> None:
    """Hold the product's row until commit (PostgreSQL), and read it as it is now."""
    await session.execute(
        update(Product)
        .where(Product.id == product.id)
        .values(updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(product)


def no_images() -> InvalidInput:
    return InvalidInput(_("Choose at least one photo."), code="no_images", field="images")


async def named_files(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these media keys a product photo names (media.tidy)."""
    found = await session.execute(
        select(ProductImage.key, ProductImage.thumb_key).where(
            ProductImage.key.in_(keys) | ProductImage.thumb_key.in_(keys)
        )
    )
    return {key for row in found for key in row if key in keys}


async def remove_image(
    session: AsyncSession, shop: Shop, public_id: str, image_public_id: str
) -> None:
    product = await get_or_404(session, shop, public_id)
    image = await session.scalar(
        select(ProductImage).where(
            ProductImage.public_id == image_public_id, ProductImage.product_id == product.id
        )
    )
    if image is None:
        raise NotFound(_("No such photo."), code="image_not_found")
    await _hold(session, product)
    if product.status == ProductStatus.on_sale and len(await images_of(session, product)) == 1:
        raise photo_required()
    await session.delete(image)
    await session.flush()
    await _refresh_cover(session, product)


async def move_image_first(
    session: AsyncSession, shop: Shop, public_id: str, image_public_id: str
) -> None:
    """Make a photo the cover: the first one a chat card and the product grid show."""
    product = await get_or_404(session, shop, public_id)
    current = await images_of(session, product)
    chosen = [image for image in current if image.public_id == image_public_id]
    if not chosen:
        raise NotFound(_("No such photo."), code="image_not_found")
    for position, image in enumerate(chosen + [i for i in current if i is not chosen[0]]):
        image.position = position
    await session.flush()
    await _refresh_cover(session, product)


async def _refresh_cover(session: AsyncSession, product: Product) -> None:
    first = await session.scalar(
        select(ProductImage.thumb_key)
        .where(ProductImage.product_id == product.id)
        .order_by(ProductImage.position, ProductImage.id)
        .limit(1)
    )
    product.cover_key = first
    product.updated_at = clock.now()
    await session.flush()
    cache.invalidate(session, cache.product_tag(product.id), cache.shop_tag(product.shop_id))


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    page: int
    has_next: bool


async def list_for_shop(
    session: AsyncSession,
    shop: Shop,
    *,
    status: ProductStatus | None = None,
    query: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> ProductPage:
    """The merchant's products, newest first, optionally by status and title search."""
    page = max(page, 1)
    statement = select(Product).where(Product.shop_id == shop.id)
    if status is not None:
        statement = statement.where(Product.status == status.value)
    if clean_line(query):  # as titles are stored; and PostgreSQL refuses a NUL in text
        searched = fold(clean_line(query))[:TITLE_FOLDED_MAX]
        statement = statement.where(Product.title_folded.like(like_pattern(searched), escape="\\"))
    rows = list(
        await session.scalars(
            statement.order_by(Product.id.desc()).offset((page - 1) * per_page).limit(per_page + 1)
        )
    )
    return ProductPage(products=rows[:per_page], page=page, has_next=len(rows) > per_page)


async def stock_totals(session: AsyncSession, products: list[Product]) -> dict[int, int]:
    """Units in stock of each product (its active SKUs), for a whole list in one query."""
    totals = {product.id: 0 for product in products}
    if totals:
        rows = await session.execute(
            select(Sku.product_id, func.sum(Sku.stock))
            .where(Sku.product_id.in_(list(totals)), Sku.active.is_(True))
            .group_by(Sku.product_id)
        )
        totals.update({product_id: int(total or 0) for product_id, total in rows})
    return totals
