"""Seed the benchmark shop through the services: a merchant, ~40 products with specs and
SKUs (a few with photos), and buyers holding API tokens. Prints nothing; returns a dict that
run.py stores as JSON."""

import io
import itertools
from typing import Any

from PIL import Image, ImageDraw

from pocketshop import demo, media
from pocketshop.accounts import service as accounts
from pocketshop.accounts.service import SessionKind
from pocketshop.catalog import groups as catalog_groups
from pocketshop.catalog import photos
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders import shipping_fees
from pocketshop.shops import service as shops

PRODUCTS = 40
PHOTO_PRODUCTS = 6  # the first products get several photos (the product page uses one)
PHOTOS_EACH = 3
COLOURS = ("红", "蓝", "黑")
SIZES = ("S", "M", "L")
STOCK = 1_000_000  # the most a SKU may hold: order creation never runs out
GROUPS = ("新品", "钱包", "包袋", "小物")
DESCRIPTION = (
    "<p>头层牛皮，手工缝线，<strong>每一件都由小明亲手制作</strong>。</p>"
    "<ul><li>尺寸：11 × 9 cm</li><li>可放 6 张卡片</li><li>支持刻字</li></ul>"
    "<p>Handmade from full-grain leather; saddle-stitched by hand.</p>"
)


def photo(seed: int) -> bytes:
    image = Image.new("RGB", (1200, 1200), (40 + seed * 37 % 200, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((300, 300, 900, 900), fill=(250, 200, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


async def seed(database_url: str, settings: Settings, buyers: int) -> dict[str, Any]:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            merchant = await accounts.get_or_create_user(session, demo.DEMO_PHONE)
            await shops.verify_identity(
                session, settings, merchant, real_name="王小明", id_number=demo.demo_id_number()
            )
            await shops.bind_bank_card(
                session,
                settings,
                merchant,
                holder_name="王小明",
                card_number=demo.demo_card_number(),
                bank_code="CMB",
            )
            shop = await shops.open_shop(
                session,
                settings,
                merchant,
                name="小明的手作铺",
                description="手工皮具与布艺小物。",
                logo_key=None,
            )
            await shipping_fees.set_rule(
                session, shop, kind=shipping_fees.RuleKind.free_above, fee=1000, free_above=9900
            )
            groups = [await catalog_groups.create_group(session, shop, name) for name in GROUPS]

        products: list[dict[str, Any]] = []
        for index in range(PRODUCTS):
            specs = (SpecDimension("颜色", COLOURS), SpecDimension("尺码", SIZES))
            skus = tuple(
                SkuInput(spec=combo, price=5900 + index * 100 + n * 10, stock=STOCK)
                for n, combo in enumerate(itertools.product(COLOURS, SIZES))
            )
            # A product goes on sale only with a photo: the first few get several.
            count = PHOTOS_EACH if index < PHOTO_PRODUCTS else 1
            pictures = await photos.prepare(
                settings, [photo(index * PHOTOS_EACH + n) for n in range(count)]
            )
            with media.staged(settings) as files:
                staged = [photos.stage(files, picture) for picture in pictures]
                async with db.transaction() as session:
                    product = await catalog.create(
                        session,
                        shop,
                        ProductInput(
                            title=f"手工皮具 第{index + 1}号",
                            description=DESCRIPTION,
                            group_id=groups[index % len(groups)].public_id,
                            specs=specs,
                            skus=skus,
                        ),
                    )
                    await catalog.add_images(session, shop, product.public_id, staged)
                    await catalog.set_status(
                        session, shop, product.public_id, ProductStatus.on_sale
                    )
                    rows = await catalog.skus_of(session, product)
            products.append({"id": product.public_id, "skus": [sku.public_id for sku in rows]})

        tokens = []
        for number in range(buyers):
            async with db.transaction() as session:
                buyer = await accounts.get_or_create_user(session, f"+86139{number:08d}")
                token, _auth = await accounts.start_session(
                    session, settings, buyer, SessionKind.api
                )
            tokens.append(token)
        return {"slug": shop.slug, "products": products, "tokens": tokens}
    finally:
        await db.dispose()
