"""No N+1 queries on the storefront: the SQL statements a page runs do not grow with the number
of products, SKUs, photos, cart lines, orders or order lines it shows. The page cache is off
here, so every request is a real render. And placing an order runs the same statements on both
databases."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from pocketshop.catalog import groups as catalog_groups
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput
from pocketshop.db import Database
from pocketshop.shops.models import Shop
from tests.commerce import (
    Buyer,
    MadeProduct,
    add_photos,
    make_buyer,
    make_merchant,
    make_product,
    ordered,
)
from tests.conftest import is_postgres
from tests.orders.test_store_pages import log_in
from tests.support import image_bytes, other_client


@pytest.fixture(autouse=True)
def no_page_cache(app: FastAPI) -> None:
    app.state.db.page_cache = None


@contextmanager
def counting(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def queries(app: FastAPI, client: httpx.AsyncClient, path: str) -> int:
    await client.get(path)  # warm: connections, the CSRF cookie
    with counting(app) as statements:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return len(statements)


async def products(app: FastAPI, shop: Shop, count: int) -> list[str]:
    db: Database = app.state.db
    ids = []
    async with db.transaction() as session:
        group = await catalog_groups.create_group(session, shop, "全部好物")
        for n in range(count):
            product = await catalog.create(
                session,
                shop,
                ProductInput(
                    title=f"商品 {n}",
                    group_id=group.public_id,
                    skus=(SkuInput(spec=(), price=1000 + n, stock=n % 3),),
                ),
            )
            ids.append(product.public_id)
    for public_id in ids:  # on sale only with a photo
        await add_photos(app, shop, public_id, [image_bytes(size=(8, 8))])
    async with db.transaction() as session:
        for public_id in ids:
            await catalog.set_status(session, shop, public_id, ProductStatus.on_sale)
    return ids


async def test_shop_home(app: FastAPI, client: httpx.AsyncClient) -> None:
    small = await make_merchant(app, "小店")
    big = await make_merchant(app, "大店")
    await products(app, small.shop, 3)
    await products(app, big.shop, 30)
    few = await queries(app, client, f"/s/{small.shop.slug}")
    many = await queries(app, client, f"/s/{big.shop.slug}")
    assert few == many
    assert many <= 5
    assert await queries(app, client, f"/s/{big.shop.slug}?page=2") == many
    assert await queries(app, client, f"/s/{big.shop.slug}?q=商品") == many


async def test_product_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    plain = await make_product(app, merchant.shop, "单品")
    rich = await make_product(
        app,
        merchant.shop,
        "多规格",
        specs={"颜色": ["红", "蓝", "绿"], "尺码": ["S", "M", "L", "XL"]},
    )
    assert len(rich.skus) == 12
    await add_photos(app, merchant.shop, rich.id, [image_bytes()] * 8)  # 9 with its first
    few = await queries(app, client, f"/s/{merchant.shop.slug}/p/{plain.id}")
    many = await queries(app, client, f"/s/{merchant.shop.slug}/p/{rich.id}")
    assert few == many
    assert many <= 6


async def fill_cart(
    app: FastAPI, client: httpx.AsyncClient, shop: Shop, made: MadeProduct, lines: int
) -> None:
    from tests.orders.test_store_pages import add

    for sku in made.skus[:lines]:
        assert (await add(client, shop, made, *sku.spec_values)).status_code == 303


async def test_cart_and_checkout(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(
        app,
        merchant.shop,
        "多规格",
        specs={"颜色": ["红", "蓝"], "尺码": ["S", "M", "L", "XL", "XXL"]},
    )
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    await fill_cart(app, client, merchant.shop, made, 1)
    paths = (f"/s/{merchant.shop.slug}/cart", f"/s/{merchant.shop.slug}/checkout")
    one = [await queries(app, client, path) for path in paths]
    async with other_client(app) as guest:
        await fill_cart(app, guest, merchant.shop, made, 1)
        guest_one = [await queries(app, guest, path) for path in paths]
        await fill_cart(app, guest, merchant.shop, made, 10)
        guest_ten = [await queries(app, guest, path) for path in paths]
    await fill_cart(app, client, merchant.shop, made, 10)
    ten = [await queries(app, client, path) for path in paths]
    assert one == ten
    assert guest_one == guest_ten
    assert max(ten) <= 8


async def place(
    client: httpx.AsyncClient, buyer: Buyer, shop: Shop, made: MadeProduct, lines: int
) -> str:
    return await ordered(client, buyer, shop, [(sku, 1) for sku in made.skus[:lines]])


async def test_buyer_orders(app: FastAPI, client: httpx.AsyncClient) -> None:
    shops = [await make_merchant(app, f"店 {n}") for n in range(3)]
    made = [
        await make_product(
            app, merchant.shop, specs={"尺码": [str(size) for size in range(10)]}, stock=20
        )
        for merchant in shops
    ]
    x = await make_buyer(app)
    y = await make_buyer(app)
    single = await place(client, x, shops[0].shop, made[0], 1)
    numbers = [
        await place(client, y, shops[n % 3].shop, made[n % 3], 10 if n == 0 else 1)
        for n in range(10)
    ]

    await log_in(app, client, x.user)
    x_list = await queries(app, client, "/me/orders")
    x_detail = await queries(app, client, f"/me/orders/{single}")
    async with other_client(app) as other:
        await log_in(app, other, y.user)
        y_list = await queries(app, other, "/me/orders")
        y_detail = await queries(app, other, f"/me/orders/{numbers[0]}")
    assert x_list == y_list
    assert x_detail == y_detail


def shape(statement: str) -> str:
    """What a statement does, to which table: `INSERT INTO orders`, `SELECT skus` (its
    first FROM outside subqueries)."""
    while True:  # subqueries (and any parentheses) out, innermost first
        outer = re.sub(r"\([^()]*\)", "", statement)
        if outer == statement:
            break
        statement = outer
    found = re.match(
        r"BEGIN|SELECT pg_advisory_xact_lock|(UPDATE|INSERT INTO|WITH) \w+|SELECT .*?\bFROM (\w+)",
        statement,
        re.DOTALL,
    )
    assert found, statement
    return f"SELECT {found.group(2)}" if found.group(2) else found.group(0)


async def test_placing_an_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The SKUs read, with what the buyer's unpaid orders in the shop hold (subqueries of the
    same statement); the buyer's privileges on those SKUs; their binding in the shop (where
    the order came from); the order, its lines and its
    first event inserted (on PostgreSQL in one statement, on SQLite the lines in one
    executemany, however many); one conditional UPDATE per SKU reserving its stock. First,
    SQLite's BEGIN (its write transactions begin explicitly; the driver begins PostgreSQL's
    unseen), or PostgreSQL's lock on the buyer's checkouts."""
    merchant = await make_merchant(app)
    made = await make_product(
        app, merchant.shop, specs={"尺码": [str(size) for size in range(10)]}, stock=20
    )
    buyer = await make_buyer(app)
    # Warm, as in a running server: the shop, its shipping terms and the login are cached.
    await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)])
    first = "SELECT pg_advisory_xact_lock" if is_postgres() else "BEGIN"
    inserts = (
        ["WITH new_orders"]
        if is_postgres()
        else ["INSERT INTO orders", "INSERT INTO order_lines", "INSERT INTO order_events"]
    )
    for lines in (1, 10):
        with counting(app) as statements:
            await ordered(client, buyer, merchant.shop, [(sku, 1) for sku in made.skus[:lines]])
        assert [shape(statement) for statement in statements] == [
            first,
            "SELECT skus",
            "SELECT privileges",
            "SELECT source_bindings",
            *inserts,
            *["UPDATE skus"] * lines,
        ]
