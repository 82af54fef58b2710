from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, File, Query, Request, Response, UploadFile, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import i18n, media
from pocketshop.accounts.deps import api_user_in, bearer_scheme
from pocketshop.catalog import adjustments, description, groups, service, storefront
from pocketshop.catalog import uploads as uploads_
from pocketshop.catalog.models import Product, ProductGroup, ProductImage, Sku
from pocketshop.catalog.schemas import (
    CategoryOut,
    GroupIn,
    GroupOrderIn,
    GroupOut,
    ImageOut,
    ProductIn,
    ProductListOut,
    ProductOut,
    ProductSummaryOut,
    SkuOut,
    SpecIn,
    StatusIn,
    StockAdjustmentIn,
    StockAdjustmentOut,
)
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.shops import service as shops
from pocketshop.shops.deps import MerchantShop, own_shop_in
from pocketshop.shops.models import Shop
from pocketshop.web.routing import (
    Session,
    api_router,
    get_settings,
    outside_router,
    public_base_url,
    unit,
)

router = api_router(prefix="/api/v1", tags=["catalog"])
# The public catalog that apps browse: routes that only read (see Database.reading).
browse = api_router(prefix="/api/v1", tags=["catalog"], reads_only=True)
# Routes that decode uploads before their transaction (see OutsideRoute).
outside = outside_router(prefix="/api/v1", tags=["catalog"])

Page = Annotated[int, Query(ge=1, le=10_000)]


def product_url(request: Request, shop: Shop, public_id: str) -> str:
    return f"{shops.shop_url(public_base_url(request), shop)}/p/{public_id}"


def _input(body: ProductIn) -> ProductInput:
    return ProductInput(
        title=body.title,
        description=body.description,
        group_id=body.group_id,
        category_code=body.category,
        specs=tuple(SpecDimension(spec.name, tuple(spec.values)) for spec in body.specs),
        skus=tuple(
            SkuInput(
                spec=tuple(sku.spec),
                price=sku.price,
                list_price=sku.list_price,
                stock=sku.stock,
                code=sku.code,
            )
            for sku in body.skus
        ),
    )


async def product_out(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    product: Product,
    view: storefront.ProductView | None = None,
) -> ProductOut:
    """`view`, when the caller has it, saves reading the SKUs, photos and names again."""
    skus: Sequence[Sku | storefront.SkuView]
    images: Sequence[ProductImage | storefront.ImageView]
    if view is not None:
        skus, images = view.skus, view.images
        group_public_id, category = view.group_id, view.category
    else:
        skus = await service.skus_of(session, product)
        images = await service.images_of(session, product)
        group_public_id, category = (
            await session.execute(
                select(*storefront.public_names()).where(Product.id == product.id)
            )
        ).one()
    return ProductOut(
        id=product.public_id,
        title=product.title,
        description=description.as_html(product.description_html),
        status=ProductStatus(product.status),
        group_id=group_public_id,
        category=category,
        specs=[SpecIn(name=spec["name"], values=spec["values"]) for spec in product.specs],
        skus=[sku_out(sku) for sku in skus],
        images=[
            ImageOut(
                id=image.public_id,
                url=media.url(image.key),
                thumb_url=media.url(image.thumb_key),
                width=image.width,
                height=image.height,
            )
            for image in images
        ],
        price_min=product.price_min,
        price_max=product.price_max,
        url=product_url(request, shop, product.public_id),
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def sku_out(sku: Sku | storefront.SkuView) -> SkuOut:
    return SkuOut(
        id=sku.public_id,
        spec=sku.spec_values,
        price=sku.price,
        list_price=sku.list_price,
        stock=sku.stock,
        code=sku.code,
    )


# --- the merchant's catalog -------------------------------------------------------------------


@router.get("/me/shop/products")
async def list_products(
    request: Request,
    session: Session,
    shop: MerchantShop,
    status_filter: Annotated[ProductStatus | None, Query(alias="status")] = None,
    q: Annotated[str, Query(max_length=60)] = "",
    page: Page = 1,
) -> ProductListOut:
    """Your products, newest first; `q` searches titles (case-insensitive, literal)."""
    found = await service.list_for_shop(session, shop, status=status_filter, query=q, page=page)
    return ProductListOut(
        items=[
            ProductSummaryOut(
                id=product.public_id,
                title=product.title,
                status=ProductStatus(product.status),
                price_min=product.price_min,
                price_max=product.price_max,
                cover_url=media.url(product.cover_key) if product.cover_key else None,
                url=product_url(request, shop, product.public_id),
            )
            for product in found.products
        ],
        page=found.page,
        has_next=found.has_next,
    )


@router.post("/me/shop/products", status_code=status.HTTP_201_CREATED)
async def create_product(
    body: ProductIn, request: Request, session: Session, shop: MerchantShop
) -> ProductOut:
    """A new product, as a draft. Give every combination of the specs one SKU."""
    product = await service.create(session, shop, _input(body))
    return await product_out(request, session, shop, product)


@router.get("/me/shop/products/{product_id}")
async def get_product(
    product_id: str, request: Request, session: Session, shop: MerchantShop
) -> ProductOut:
    product = await service.get_or_404(session, shop, product_id)
    return await product_out(request, session, shop, product)


@router.put("/me/shop/products/{product_id}")
async def edit_product(
    product_id: str, body: ProductIn, request: Request, session: Session, shop: MerchantShop
) -> ProductOut:
    """Replace title, description, specs and prices. Existing SKUs keep their stock."""
    product = await service.edit(session, shop, product_id, _input(body))
    return await product_out(request, session, shop, product)


@router.put("/me/shop/products/{product_id}/status")
async def set_product_status(
    product_id: str, body: StatusIn, request: Request, session: Session, shop: MerchantShop
) -> ProductOut:
    """Publish (`on_sale`) or take off the shelf (`off_shelf`)."""
    product = await service.set_status(session, shop, product_id, body.status)
    return await product_out(request, session, shop, product)


@outside.post(
    "/me/shop/products/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(bearer_scheme)],
)
async def add_images(
    product_id: str,
    request: Request,
    images: Annotated[list[UploadFile], File(description="up to 9 photos in all")],
) -> ProductOut:
    """Photos decoded before the transaction that records them; kept once it committed."""
    limit = get_settings(request).product_image_max_bytes + 1
    uploads = [await upload.read(limit) for upload in images]
    await uploads_.add_photos(request, merchant_shop_in, product_id, uploads)
    async with unit(request, write=False) as session:
        shop = await merchant_shop_in(session, request)
        product = await service.get_or_404(session, shop, product_id)
        return await product_out(request, session, shop, product)


async def merchant_shop_in(session: AsyncSession, request: Request) -> Shop:
    return await own_shop_in(session, await api_user_in(session, request))


@router.delete(
    "/me/shop/products/{product_id}/images/{image_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def remove_image(
    product_id: str, image_id: str, session: Session, shop: MerchantShop
) -> Response:
    await service.remove_image(session, shop, product_id, image_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/shop/skus/{sku_id}/stock-adjustments", status_code=status.HTTP_201_CREATED)
async def adjust_stock(
    sku_id: str, body: StockAdjustmentIn, session: Session, shop: MerchantShop
) -> StockAdjustmentOut:
    """Add (positive delta) or remove units, with a reason; logged."""
    adjustment = await adjustments.adjust_stock(
        session,
        shop,
        sku_id,
        delta=body.delta,
        reason=body.reason,
        note=body.note,
        user_id=shop.owner_id,
    )
    return StockAdjustmentOut(
        sku_id=sku_id,
        delta=adjustment.delta,
        stock_after=adjustment.stock_after,
        reason=adjustment.reason,
        note=adjustment.note,
        created_at=adjustment.created_at,
    )


@router.get("/me/shop/products/{product_id}/stock-adjustments")
async def stock_history(
    product_id: str, session: Session, shop: MerchantShop
) -> list[StockAdjustmentOut]:
    return [
        StockAdjustmentOut(
            sku_id=sku.public_id,
            delta=adjustment.delta,
            stock_after=adjustment.stock_after,
            reason=adjustment.reason,
            note=adjustment.note,
            created_at=adjustment.created_at,
        )
        for adjustment, sku in await adjustments.stock_history(session, shop, product_id)
    ]


def group_out(group: ProductGroup) -> GroupOut:
    return GroupOut(id=group.public_id, name=group.name, position=group.position)


@router.get("/me/shop/groups")
async def list_groups(session: Session, shop: MerchantShop) -> list[GroupOut]:
    return [group_out(group) for group in await groups.list_groups(session, shop)]


@router.post("/me/shop/groups", status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupIn, session: Session, shop: MerchantShop) -> GroupOut:
    return group_out(await groups.create_group(session, shop, body.name))


@router.put("/me/shop/groups/order")
async def reorder_groups(
    body: GroupOrderIn, session: Session, shop: MerchantShop
) -> list[GroupOut]:
    """Give every group id once, in the order buyers should see them."""
    await groups.reorder_groups(session, shop, body.groups)
    return [group_out(group) for group in await groups.list_groups(session, shop)]


@router.put("/me/shop/groups/{group_id}")
async def rename_group(
    group_id: str, body: GroupIn, session: Session, shop: MerchantShop
) -> GroupOut:
    return group_out(await groups.rename_group(session, shop, group_id, body.name))


@router.delete("/me/shop/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: str, session: Session, shop: MerchantShop) -> Response:
    await groups.delete_group(session, shop, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@browse.get("/categories")
async def list_categories(session: Session) -> list[CategoryOut]:
    """The platform's category tree, parents first."""
    categories = await groups.category_tree(session)
    codes = {category.id: category.code for category in categories}
    english = i18n.get_locale() != "zh_CN"
    return [
        CategoryOut(
            code=category.code,
            name=category.name_en if english else category.name_zh,
            parent=codes.get(category.parent_id) if category.parent_id else None,
        )
        for category in categories
    ]


# --- public catalog ---------------------------------------------------------------------------


@browse.get("/shops/{slug}/products")
async def shop_products(
    slug: str,
    request: Request,
    session: Session,
    group: Annotated[str | None, Query(max_length=32)] = None,
    page: Page = 1,
) -> ProductListOut:
    """Products on sale in a shop, optionally of one group."""
    shop = await shops.get_by_slug_or_404(session, slug)
    chosen = await storefront.group_by_public_id(session, shop, group) if group else None
    found = await storefront.grid(session, shop, group=chosen, page=page)
    return ProductListOut(
        items=[
            ProductSummaryOut(
                id=item.public_id,
                title=item.title,
                price_min=item.price_min,
                price_max=item.price_max,
                cover_url=media.url(item.cover_key) if item.cover_key else None,
                stock=item.stock,
                url=product_url(request, shop, item.public_id),
            )
            for item in found.items
        ],
        page=found.page,
        has_next=found.has_next,
    )


@browse.get("/shops/{slug}/products/{product_id}")
async def shop_product(
    slug: str, product_id: str, request: Request, session: Session
) -> ProductOut:
    shop = await shops.get_by_slug_or_404(session, slug)
    view = await storefront.product_view(session, shop, product_id)
    return await product_out(request, session, shop, view.product, view)
