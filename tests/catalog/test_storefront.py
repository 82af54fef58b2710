"""A product as buyers see it, read in one statement: its SKUs and photos in the merchant's
order, whatever order the database hands the aggregated rows in."""

from fastapi import FastAPI
from sqlalchemy import select, update

from pocketshop.catalog import storefront
from pocketshop.catalog.models import ProductImage, Sku
from pocketshop.db import Database
from tests.commerce import add_photos, make_merchant, make_product
from tests.support import image_bytes


async def test_a_product_view_has_its_active_skus_and_photos_in_the_merchants_order(
    app: FastAPI,
) -> None:
    db: Database = app.state.db
    merchant = await make_merchant(app)
    made = await make_product(
        app, merchant.shop, "衬衫", specs={"颜色": ["红", "蓝"], "尺码": ["S", "M"]}, price=5000
    )
    await add_photos(app, merchant.shop, made.id, [image_bytes(size=(8, 8)) for _ in range(2)])
    skus = {tuple(sku.spec_values): sku for sku in made.skus}
    async with db.transaction() as session:
        photos = (
            await session.execute(
                select(ProductImage.id, ProductImage.key)
                .where(ProductImage.product_id == made.product.id)
                .order_by(ProductImage.id)
            )
        ).all()
        # The merchant's order, not the ids': SKUs shuffled, one taken off sale, photos reversed.
        order = [("蓝", "M"), ("红", "S"), ("蓝", "S"), ("红", "M")]
        for position, spec in enumerate(order):
            await session.execute(
                update(Sku).where(Sku.id == skus[spec].id).values(position=position)
            )
        await session.execute(update(Sku).where(Sku.id == skus["蓝", "S"].id).values(active=False))
        for position, (image_id, _key) in enumerate(reversed(photos)):
            await session.execute(
                update(ProductImage).where(ProductImage.id == image_id).values(position=position)
            )

    async with db.reading() as session:
        view = await storefront.product_view(session, merchant.shop, made.id)

    assert [tuple(sku.spec_values) for sku in view.skus] == [("蓝", "M"), ("红", "S"), ("红", "M")]
    first = view.skus[0]
    expected = skus["蓝", "M"]
    assert (first.id, first.public_id, first.price, first.list_price, first.stock, first.code) == (
        expected.id,
        expected.public_id,
        5000,
        None,
        10,
        "",
    )
    assert view.stock == 30
    assert [image.key for image in view.images] == [key for _id, key in reversed(photos)]
    assert [(image.width, image.height) for image in view.images] == [(8, 8)] * 3
