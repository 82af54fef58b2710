# ruff: noqa: T201 -- a command-line tool: it logs its steps
"""Seed the benchmark database at a realistic size, then ANALYZE it.

1. One template shop through the services, as a merchant makes it: identity, bank card, a
   shop, a shipping rule, 4 groups and 40 products on sale (9 SKUs each; the first 6 with 3
   photos, the others with one), 64 buyers holding API tokens (the order scenarios), and an
   API token of its merchant (the customer list).
2. Copies in SQL (INSERT … SELECT, seconds instead of hours): `Scale.shops - 1` more shops,
   each with its own merchant, shipping rule, groups and the template's first
   `products_per_shop` products (SKUs and photos too; the photo files are shared);
   `Scale.buyers` buyers; `Scale.orders` orders of one line each, spread over the shops (the
   template shop, the big one, takes `template_share` of them) and the buyers over the last
   year, most of them completed; and a `customers` row for each buyer who paid a shop, as
   the money path keeps them (customers.service.record_paid).
3. Page views (`Scale.page_views`, the last 30 days) in SQL too, then the last 30 days'
   rollups of every shop by the analytics job's own backfill.
4. VACUUM ANALYZE: the planner's statistics, and the visibility map autovacuum would have
   set on a database that has been running.

Returns a dict that run.py stores as JSON: the template shop's slug, products and SKUs, the
tokens, and every product page's path.

    .venv/bin/python benchmarks/seed.py --scale small   # alone: drops and seeds bench_helper_seed
"""

import argparse
import io
import itertools
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from PIL import Image, ImageDraw
from sqlalchemy.engine import make_url

from pocketshop import demo, media
from pocketshop.accounts import service as accounts
from pocketshop.accounts.service import SessionKind
from pocketshop.analytics import rollup
from pocketshop.catalog import groups as catalog_groups
from pocketshop.catalog import photos
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders import shipping_fees
from pocketshop.shops import service as shops

PRODUCTS = 40  # the template shop's
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
# Phones of the copied shops' merchants and of the bulk buyers (the 64 token buyers are
# +86139…, the template's merchant demo.DEMO_PHONE).
MERCHANT_PHONES = "+86137"
BUYER_PHONES = "+86135"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
TIMEZONE = "Asia/Shanghai"  # every seeded shop's (the default)
GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟")


@dataclass(frozen=True)
class Scale:
    shops: int = 1000  # in all, the template shop included
    products_per_shop: int = 6  # each copied shop's (the template has PRODUCTS)
    buyers: int = 100_000  # who placed the orders (besides the 64 token buyers)
    orders: int = 1_000_000
    page_views: int = 10_000_000
    template_share: float = 0.1  # of the orders: the template shop is the big one

    @property
    def products(self) -> int:
        return PRODUCTS + (self.shops - 1) * self.products_per_shop


SCALES = {
    "full": Scale(),
    "small": Scale(shops=50, buyers=2_000, orders=20_000, page_views=200_000),
}


def photo(seed: int) -> bytes:
    image = Image.new("RGB", (1200, 1200), (40 + seed * 37 % 200, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((300, 300, 900, 900), fill=(250, 200, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def seed(
    database_url: str, settings: Settings, buyers: int, scale: Scale = SCALES["full"]
) -> dict[str, Any]:
    started = time.monotonic()
    template = await seed_template(database_url, settings, buyers)
    log(f"seed: template shop through the services in {time.monotonic() - started:.0f}s")
    connection = await asyncpg.connect(**dsn(database_url))
    try:
        await copy_shops(connection, template["shop_id"], scale)
        await seed_buyers_and_orders(connection, template["shop_id"], scale)
        await seed_page_views(connection, template["shop_id"], scale)
        await seed_rollups(database_url)
        step = time.monotonic()
        await connection.execute("VACUUM ANALYZE")
        log(f"seed: VACUUM ANALYZE in {time.monotonic() - step:.0f}s")
        paths = [
            f"/s/{slug}/p/{public_id}"
            for slug, public_id in await connection.fetch(
                "SELECT s.slug, p.public_id FROM products p JOIN shops s ON s.id = p.shop_id "
                "WHERE p.status = 'on_sale' ORDER BY p.id"
            )
        ]
        counts = {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in (
                "shops",
                "products",
                "skus",
                "users",
                "orders",
                "customers",
                "page_views",
                "analytics_shop_days",
            )
        }
    finally:
        await connection.close()
    log(f"seed: {counts} in {time.monotonic() - started:.0f}s")
    return {**template, "product_paths": paths, "scale": asdict(scale), "counts": counts}


def dsn(database_url: str) -> dict[str, Any]:
    url = make_url(database_url)
    return {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }


# --- 1. the template shop, through the services -----------------------------------------------


async def seed_template(database_url: str, settings: Settings, buyers: int) -> dict[str, Any]:
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
            merchant_token, _auth = await accounts.start_session(
                session, settings, merchant, SessionKind.api
            )

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
        return {
            "slug": shop.slug,
            "shop_id": shop.id,
            "products": products,
            "tokens": tokens,
            "merchant_token": merchant_token,
        }
    finally:
        await db.dispose()


# --- 2. copies in SQL ----------------------------------------------------------------------


async def columns(connection: asyncpg.Connection, table: str) -> list[str]:
    """The table's columns as the database has them (a column another change added is copied
    as the template row has it)."""
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [row[0] for row in rows]


async def copy_rows(
    connection: asyncpg.Connection,
    table: str,
    source: str,
    overrides: dict[str, str],
    *args: Any,
) -> str:
    """INSERT INTO `table` every column, from `source` (a FROM clause naming the template
    rows `t`), each column as `t`'s unless `overrides` gives its expression."""
    names = await columns(connection, table)
    if "id" not in overrides:
        names.remove("id")  # a new serial id
    values = ", ".join(overrides.get(name, f"t.{name}") for name in names)
    return str(
        await connection.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {values} FROM {source}",  # noqa: S608
            *args,
        )
    )


async def copied_shops(connection: asyncpg.Connection, template: int) -> tuple[int, int]:
    """How many shops there are, and the first copy's id (the copies' ids follow it)."""
    count = int(await connection.fetchval("SELECT count(*) FROM shops"))
    first = await connection.fetchval("SELECT min(id) FROM shops WHERE id <> $1", template)
    return count, int(first or 0)


async def next_id(connection: asyncpg.Connection, table: str) -> int:
    return int(await connection.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}")) + 1  # noqa: S608


async def reset_sequence(connection: asyncpg.Connection, table: str) -> None:
    """After rows inserted with explicit ids: the next serial id comes after them."""
    await connection.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
        f"(SELECT max(id) FROM {table}))"
    )


async def copy_shops(connection: asyncpg.Connection, template: int, scale: Scale) -> None:
    """Shops 1..shops-1, each a copy of the template with its own merchant, and copies of the
    template's groups, first products, their SKUs and photos. Ids are given (a copy's rows
    are found by arithmetic, not by looking them up)."""
    copies = scale.shops - 1
    if copies <= 0:
        return
    step = time.monotonic()
    owner = await connection.fetchval("SELECT owner_id FROM shops WHERE id = $1", template)
    user_base = await next_id(connection, "users")
    shop_base = await next_id(connection, "shops")
    group_base = await next_id(connection, "product_groups")
    product_base = await next_id(connection, "products")
    per_shop = scale.products_per_shop
    group_count = int(
        await connection.fetchval(
            "SELECT count(*) FROM product_groups WHERE shop_id = $1", template
        )
    )
    async with connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        await copy_rows(
            connection,
            "users",
            "users t, generate_series(0, $2 - 1) k WHERE t.id = $1",
            {
                "id": f"{user_base} + k",
                "public_id": "md5(random()::text || k)",
                "phone": f"'{MERCHANT_PHONES}' || lpad(k::text, 8, '0')",
            },
            owner,
            copies,
        )
        await copy_rows(
            connection,
            "shops",
            "shops t, generate_series(0, $2 - 1) k WHERE t.id = $1",
            {
                "id": f"{shop_base} + k",
                "public_id": "md5(random()::text || k)",
                "owner_id": f"{user_base} + k",
                "slug": "left(t.slug, 40) || '-' || k",
                "name": "t.name || ' ' || (k + 2)",
            },
            template,
            copies,
        )
        await copy_rows(
            connection,
            "shipping_rules",
            "shipping_rules t, generate_series(0, $2 - 1) k WHERE t.shop_id = $1",
            {"shop_id": f"{shop_base} + k"},
            template,
            copies,
        )
        # The template's groups and products, numbered in id order: copy k of the n-th gets
        # id base + k * count + n.
        await connection.execute(
            "CREATE TEMP TABLE template_groups AS SELECT id, row_number() OVER (ORDER BY id) - 1 "
            "AS n FROM product_groups WHERE shop_id = $1",
            template,
        )
        await connection.execute(
            "CREATE TEMP TABLE template_products AS SELECT id, row_number() OVER (ORDER BY id) "
            "- 1 AS n FROM products WHERE shop_id = $1 AND status = 'on_sale' ORDER BY id "
            "LIMIT $2",
            template,
            per_shop,
        )
        await copy_rows(
            connection,
            "product_groups",
            "product_groups t JOIN template_groups g ON g.id = t.id, generate_series(0, $1 - 1) k",
            {
                "id": f"{group_base} + k * {group_count} + g.n",
                "public_id": "md5(random()::text || t.id || k)",
                "shop_id": f"{shop_base} + k",
            },
            copies,
        )
        await copy_rows(
            connection,
            "products",
            "products t JOIN template_products p ON p.id = t.id "
            "LEFT JOIN template_groups g ON g.id = t.group_id, generate_series(0, $1 - 1) k",
            {
                "id": f"{product_base} + k * {per_shop} + p.n",
                "public_id": "md5(random()::text || t.id || k)",
                "shop_id": f"{shop_base} + k",
                "group_id": f"{group_base} + k * {group_count} + g.n",
            },
            copies,
        )
        for table in ("skus", "product_images"):
            await copy_rows(
                connection,
                table,
                f"{table} t JOIN template_products p ON p.id = t.product_id, "
                "generate_series(0, $1 - 1) k",
                {
                    "public_id": "md5(random()::text || t.id || k)",
                    "shop_id": f"{shop_base} + k",
                    "product_id": f"{product_base} + k * {per_shop} + p.n",
                },
                copies,
            )
        for table in ("users", "shops", "product_groups", "products"):
            await reset_sequence(connection, table)
    log(
        f"seed: {copies} shops copied ({copies * per_shop} products) "
        f"in {time.monotonic() - step:.0f}s"
    )


async def seed_buyers_and_orders(
    connection: asyncpg.Connection, template: int, scale: Scale
) -> None:
    """Buyers, a year of orders (one line each) and the shops' customers."""
    step = time.monotonic()
    buyer_base = await next_id(connection, "users")
    order_base = await next_id(connection, "orders")
    shop_count, first_copy = await copied_shops(connection, template)
    surnames = list(SURNAMES)
    async with connection.transaction():
        # Rows made consistent by construction: no foreign-key trigger per row (a bulk load's
        # usual switch; superuser only, for this transaction only). Unique indexes still check.
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            "INSERT INTO users (id, public_id, phone, created_at, is_operator) "  # noqa: S608
            "SELECT $1 + k, md5(random()::text || k), "
            f"'{BUYER_PHONES}' || lpad(k::text, 8, '0'), "
            "now() - interval '400 days' + k * interval '1 second', false "
            "FROM generate_series(0, $2 - 1) k",
            buyer_base,
            scale.buyers,
        )
        await reset_sequence(connection, "users")
        # Every shop's SKUs, numbered per shop, with what an order line copies.
        await connection.execute(
            """
            CREATE TEMP TABLE shop_skus AS
            SELECT s.shop_id, row_number() OVER (PARTITION BY s.shop_id ORDER BY s.id) - 1 AS n,
                   s.id AS sku_id, s.product_id, s.price, p.title, p.cover_key,
                   array_to_string(ARRAY(SELECT json_array_elements_text(s.spec_values::json)),
                                   ' / ') AS spec_text
            FROM skus s JOIN products p ON p.id = s.product_id
            WHERE s.active AND p.status = 'on_sale'
            """
        )
        await connection.execute("CREATE INDEX ON shop_skus (shop_id, n)")
        await connection.execute(
            "CREATE TEMP TABLE shop_sku_counts AS "
            "SELECT shop_id, count(*) AS skus FROM shop_skus GROUP BY shop_id"
        )
        await connection.execute("ANALYZE shop_skus")
        # One row per order: who, where, what, when, how it ended. The template shop takes
        # its share; the others split the rest evenly. Buyers are skewed: low numbers buy
        # often (random()^2), as some customers come back.
        await connection.execute(
            """
            CREATE TEMP TABLE seed_orders AS
            WITH drawn AS (
                SELECT $1 + k AS id,
                       CASE WHEN random() < $3 OR $5 <= 1 THEN $4::int
                            ELSE $6 + floor(random() * ($5 - 1))::int END AS shop_id,
                       $7 + floor($8 * random() ^ 2)::int AS buyer_id,
                       now() - random() * interval '365 days' AS created_at,
                       random() AS fate, 1 + floor(random() * 2)::int AS quantity,
                       floor(random() * 1000000)::int AS pick
                FROM generate_series(0, $2 - 1) k
            )
            SELECT d.*, ss.sku_id, ss.product_id, ss.price, ss.title, ss.cover_key, ss.spec_text
            FROM drawn d
            JOIN shop_sku_counts c ON c.shop_id = d.shop_id
            JOIN shop_skus ss ON ss.shop_id = d.shop_id AND ss.n = d.pick % c.skus
            """,
            order_base,
            scale.orders,
            scale.template_share,
            template,
            shop_count,
            first_copy,
            buyer_base,
            scale.buyers,
        )
        names = ", ".join(f"'{name}'" for name in surnames)
        given = ", ".join(f"'{name}'" for name in GIVEN)
        await connection.execute(
            f"""
            INSERT INTO orders (
                id, number, shop_id, buyer_id, status, currency, items_total, shipping_fee,
                total, line_count, recipient, phone, province, city, district, province_code,
                city_code, district_code, address_detail, note, created_at, paid_at, shipped_at,
                completed_at, closed_at, close_reason, source, aftersales_open, no_delivery)
            SELECT o.id, to_char(o.created_at, 'YYYYMMDD') || lpad(o.id::text, 12, '0'),
                o.shop_id, o.buyer_id,
                CASE WHEN o.fate < 0.10 THEN 'closed' WHEN o.fate < 0.13 THEN 'paid'
                     WHEN o.fate < 0.20 THEN 'shipped' ELSE 'completed' END,
                'CNY', o.price * o.quantity, CASE WHEN o.price * o.quantity >= 9900 THEN 0
                ELSE 1000 END, o.price * o.quantity
                    + CASE WHEN o.price * o.quantity >= 9900 THEN 0 ELSE 1000 END, 1,
                (ARRAY[{names}])[1 + o.buyer_id % {len(surnames)}]
                    || (ARRAY[{given}])[1 + o.buyer_id / {len(surnames)} % {len(GIVEN)}],
                '139' || lpad((o.buyer_id % 100000000)::text, 8, '0'),
                '浙江省', '杭州市', '西湖区', '330000', '330100', '330106', '文三路 90 号',
                '', o.created_at,
                CASE WHEN o.fate >= 0.10 THEN o.created_at + interval '3 minutes' END,
                CASE WHEN o.fate >= 0.13 THEN o.created_at + interval '1 day' END,
                CASE WHEN o.fate >= 0.20 THEN o.created_at + interval '5 days' END,
                CASE WHEN o.fate < 0.10 THEN o.created_at + interval '30 minutes' END,
                CASE WHEN o.fate < 0.10 THEN 'timeout' END,
                'checkout', false, false
            FROM seed_orders o
            """  # noqa: S608 -- constants of this module
        )
        await connection.execute(
            """
            INSERT INTO order_lines (
                public_id, order_id, shop_id, product_id, sku_id, title, spec_text, image_key,
                unit_price, quantity, line_total, shipped_quantity, cancelled_quantity, position)
            SELECT md5(random()::text || o.id), o.id, o.shop_id, o.product_id, o.sku_id,
                o.title, o.spec_text, o.cover_key, o.price, o.quantity, o.price * o.quantity,
                CASE WHEN o.fate >= 0.13 THEN o.quantity ELSE 0 END, 0, 0
            FROM seed_orders o
            """
        )
        await reset_sequence(connection, "orders")
        # As customers.service.record_paid keeps them: a row per buyer who paid the shop.
        await connection.execute(
            """
            INSERT INTO customers (
                public_id, shop_id, buyer_id, name, first_order_at, last_order_at, orders,
                spent, note)
            SELECT md5(random()::text || shop_id || '-' || buyer_id), shop_id, buyer_id,
                max(recipient), min(paid_at), max(paid_at), count(*), sum(total), ''
            FROM orders
            WHERE paid_at IS NOT NULL AND id >= $1
            GROUP BY shop_id, buyer_id
            """,
            order_base,
        )
        await connection.execute(
            "DROP TABLE seed_orders, shop_skus, shop_sku_counts, template_groups, template_products"
        )
    log(
        f"seed: {scale.buyers} buyers, {scale.orders} orders and their customers "
        f"in {time.monotonic() - step:.0f}s"
    )


# --- 3. page views -------------------------------------------------------------------------


async def seed_page_views(connection: asyncpg.Connection, template: int, scale: Scale) -> None:
    """`Scale.page_views` page views over the last 30 days (today included), as the analytics
    middleware writes them: a visitor of a day sees a shop's home and two of its products
    (three rows, one visitor hash), the template shop taking `template_share` of them; the
    visitor's source drawn as chat-shared shops see them."""
    step = time.monotonic()
    shop_count, first_copy = await copied_shops(connection, template)
    async with connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            "CREATE TEMP TABLE shop_products AS SELECT shop_id, id AS product_id, "
            "row_number() OVER (PARTITION BY shop_id ORDER BY id) - 1 AS n "
            "FROM products WHERE status = 'on_sale'"
        )
        await connection.execute("CREATE INDEX ON shop_products (shop_id, n)")
        await connection.execute(
            "CREATE TEMP TABLE shop_product_counts AS "
            "SELECT shop_id, count(*) AS products FROM shop_products GROUP BY shop_id"
        )
        await connection.execute("ANALYZE shop_products")
        # g: a visitor's day in a shop; r: which of its three pages. Deterministic draws
        # (Knuth's multiplicative hash) so a reseed is the same data.
        await connection.execute(
            """
            INSERT INTO page_views (shop_id, day, page, target_id, visitor, source)
            WITH drawn AS (
                SELECT k / 3 AS g, k % 3 AS r,
                       CASE WHEN (k / 3) * 2654435761 % 1000 < $3 * 1000 OR $5 <= 1 THEN $4::int
                            ELSE $6 + ((k / 3) % ($5 - 1))::int END AS shop_id
                FROM generate_series(0::bigint, $1 - 1) k
            )
            SELECT d.shop_id,
                   (now() AT TIME ZONE $2)::date - (d.g % 30)::int,
                   CASE WHEN d.r = 0 THEN 'home' ELSE 'product' END,
                   CASE WHEN d.r = 0 THEN 0 ELSE sp.product_id END,
                   decode(md5(d.g::text), 'hex'),
                   CASE WHEN d.g * 40503 % 100 < 40 THEN 'direct'
                        WHEN d.g * 40503 % 100 < 62 THEN 'share'
                        WHEN d.g * 40503 % 100 < 76 THEN 'store'
                        WHEN d.g * 40503 % 100 < 86 THEN 'staff' ELSE 'campaign' END
            FROM drawn d
            JOIN shop_product_counts c ON c.shop_id = d.shop_id
            JOIN shop_products sp ON sp.shop_id = d.shop_id
                AND sp.n = (d.g + d.r - 1) % c.products
            ON CONFLICT DO NOTHING
            """,
            scale.page_views,
            TIMEZONE,
            scale.template_share,
            template,
            shop_count,
            first_copy,
        )
        await connection.execute("DROP TABLE shop_products, shop_product_counts")
    log(f"seed: {scale.page_views:,} page views in {time.monotonic() - step:.0f}s")


async def seed_rollups(database_url: str) -> None:
    """The last 30 days' rollups of every shop, by the analytics job's own backfill (the
    statements its rounds run), from the page views and orders seeded."""
    step = time.monotonic()
    db = Database(database_url)
    try:
        today = datetime.now(ZoneInfo(TIMEZONE)).date()
        done = await rollup.backfill(db, today - timedelta(days=29), today)
    finally:
        await db.dispose()
    log(f"seed: {done:,} shop days rolled up in {time.monotonic() - step:.0f}s")


# --- alone -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="seed a benchmark database (dropped first)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--database", default="bench_helper_seed")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import run

    url = f"postgresql+asyncpg://postgres@{args.pg_host}:{args.pg_port}/{args.database}"
    return run.seed_database(args, url, SCALES[args.scale], database=args.database)


if __name__ == "__main__":
    sys.exit(main())
