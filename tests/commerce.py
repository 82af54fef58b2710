"""Builders for catalog and order tests: merchants, buyers and products made through the
services (fast, and clear of the SMS rate limits), then used through the HTTP app."""

import itertools
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import jobs, media
from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import SESSION_COOKIE, cookie_signer
from pocketshop.accounts.models import User
from pocketshop.accounts.service import SessionKind
from pocketshop.catalog import photos
from pocketshop.catalog import service as catalog
from pocketshop.catalog.models import Product, ProductImage, Sku, StockAdjustment
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.db import Base, Database
from pocketshop.orders.models import (
    Address,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    Shipment,
    ShipmentLine,
)
from pocketshop.payments import calls
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from tests.support import card_number, id_number_aged, image_bytes

ADDRESS = {
    "recipient": "李雷",
    "phone": "13900139000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 90 号 3 单元 201",
}

_phones = itertools.count(13700000000)


def next_phone() -> str:
    return f"+86{next(_phones)}"


@dataclass
class Merchant:
    user: User
    shop: Shop
    auth: dict[str, str]


@dataclass
class Buyer:
    user: User
    auth: dict[str, str]


async def api_token(db: Database, settings: Settings, user: User) -> dict[str, str]:
    async with db.transaction() as session:
        token, _auth = await accounts.start_session(session, settings, user, SessionKind.api)
    return {"Authorization": f"Bearer {token}"}


async def make_buyer(app: FastAPI, phone: str | None = None) -> Buyer:
    db: Database = app.state.db
    async with db.transaction() as session:
        user = await accounts.get_or_create_user(session, phone or next_phone())
    return Buyer(user, await api_token(db, app.state.settings, user))


async def make_merchant(app: FastAPI, shop_name: str = "小明的店") -> Merchant:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    async with db.transaction() as session:
        user = await accounts.get_or_create_user(session, next_phone())
        shop = await open_verified_shop(session, settings, user, shop_name)
    return Merchant(user, shop, await api_token(db, settings, user))


async def open_verified_shop(
    session: AsyncSession, settings: Settings, user: User, shop_name: str
) -> Shop:
    """Identity checked and bank card bound, as opening a shop requires; then the shop."""
    await shops.verify_identity(
        session, settings, user, real_name="王小明", id_number=id_number_aged(30)
    )
    await shops.bind_bank_card(
        session,
        settings,
        user,
        holder_name="王小明",
        card_number=card_number(),
        bank_code="ICBC",
    )
    return await shops.open_shop(
        session, settings, user, name=shop_name, description="", logo_key=None
    )


@dataclass
class MadeProduct:
    product: Product
    skus: list[Sku]

    @property
    def id(self) -> str:
        return self.product.public_id

    def sku(self, *spec: str) -> Sku:
        return next(sku for sku in self.skus if tuple(sku.spec_values) == spec)


async def make_product(
    app: FastAPI,
    shop: Shop,
    title: str = "手工皮钱包",
    *,
    specs: dict[str, list[str]] | None = None,
    price: int = 9900,
    stock: int = 10,
    status: ProductStatus = ProductStatus.on_sale,
    prices: dict[tuple[str, ...], int] | None = None,
) -> MadeProduct:
    """A product with the full SKU matrix of `specs`, every SKU at `price` (or `prices`);
    one that was ever on sale has a photo, as putting it on sale requires."""
    dimensions = tuple(SpecDimension(name, tuple(values)) for name, values in (specs or {}).items())
    combos = list(itertools.product(*(d.values for d in dimensions)))
    skus = tuple(
        SkuInput(spec=combo, price=(prices or {}).get(combo, price), stock=stock)
        for combo in combos
    )
    db: Database = app.state.db
    async with db.transaction() as session:
        product = await catalog.create(
            session, shop, ProductInput(title=title, specs=dimensions, skus=skus)
        )
    if status is not ProductStatus.draft:
        await add_photos(app, shop, product.public_id, [image_bytes(size=(8, 8))])
    async with db.transaction() as session:
        if status is not ProductStatus.draft:
            product = await catalog.set_status(
                session, shop, product.public_id, ProductStatus.on_sale
            )
        if status is ProductStatus.off_shelf:
            product = await catalog.set_status(session, shop, product.public_id, status)
        rows = await catalog.skus_of(session, product)
    return MadeProduct(product, rows)


# --- reading the database and driving orders (catalog and order tests) -------------------------


async def stock_of(app: FastAPI, sku_id: int) -> int:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return int(await session.scalar(select(Sku.stock).where(Sku.id == sku_id)) or 0)


async def row_counts(app: FastAPI) -> dict[str, object]:
    """Rows of every table an order, a product or a shipment writes, and all stock levels:
    compared before and after a refused request to prove nothing changed."""
    db: Database = app.state.db
    models: dict[str, type[Base]] = {
        "orders": Order,
        "order_lines": OrderLine,
        "order_events": OrderEvent,
        "shipments": Shipment,
        "shipment_lines": ShipmentLine,
        "cart_items": CartItem,
        "addresses": Address,
        "products": Product,
        "skus": Sku,
        "product_images": ProductImage,
        "stock_adjustments": StockAdjustment,
    }
    async with db.transaction(write=False) as session:
        found: dict[str, object] = {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in models.items()
        }
        for name, statement in {
            "stock": select(Sku.id, Sku.stock),
            "statuses": select(Order.id, Order.status),
            "shipped": select(OrderLine.id, OrderLine.shipped_quantity),
        }.items():
            found[name] = {key: value for key, value in await session.execute(statement)}
    return found


async def order_row(app: FastAPI, number: str) -> Order:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return (await session.scalars(select(Order).where(Order.number == number))).one()


async def events_to(app: FastAPI, number: str) -> list[str]:
    """The statuses an order moved to, oldest first."""
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        rows = await session.scalars(
            select(OrderEvent.to_status)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(Order.number == number)
            .order_by(OrderEvent.id)
        )
        return list(rows)


async def pay(app: FastAPI, number: str) -> None:
    """Pay an order through the sandbox provider (the hosted page's Pay, then our query),
    so the money is in escrow as with any payment."""
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        order = (await session.scalars(select(Order).where(Order.number == number))).one()
    payment = await calls.pay_in_sandbox(
        db, app.state.settings, app.state.payments.providers, order.buyer_id, number
    )
    assert payment.status == "paid"


def order_json(shop: Shop, lines: list[tuple[Sku, int]]) -> dict[str, object]:
    """The body of `POST /api/v1/orders` for these lines, to the test ADDRESS."""
    return {
        "shop": shop.slug,
        "lines": [{"sku_id": sku.public_id, "quantity": quantity} for sku, quantity in lines],
        "address": ADDRESS,
    }


async def place_order(
    client: httpx.AsyncClient,
    buyer: Buyer,
    shop: Shop,
    lines: list[tuple[Sku, int]],
    **extra: object,
) -> httpx.Response:
    return await client.post(
        "/api/v1/orders", json=order_json(shop, lines) | extra, headers=buyer.auth
    )


async def ordered(
    client: httpx.AsyncClient, buyer: Buyer, shop: Shop, lines: list[tuple[Sku, int]]
) -> str:
    """Place an order that must succeed; returns its number."""
    response = await place_order(client, buyer, shop, lines)
    assert response.status_code == 201, response.text
    number: str = response.json()["number"]
    return number


async def one_sku_and_buyer(app: FastAPI, stock: int = 10) -> tuple[Merchant, Sku, Buyer]:
    """A shop selling one product with a single SKU, and a buyer."""
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, stock=stock)
    return merchant, made.skus[0], await make_buyer(app)


async def ship(
    client: httpx.AsyncClient,
    merchant: Merchant,
    number: str,
    tracking_number: str,
    *,
    carrier: str = "SF",
    lines: dict[str, int] | None = None,
) -> httpx.Response:
    """Ship an order through the API: the lines given ({line id: quantity}), or all the rest."""
    body: dict[str, object] = {"carrier": carrier, "tracking_number": tracking_number}
    if lines is not None:
        body["lines"] = [{"line_id": line, "quantity": qty} for line, qty in lines.items()]
    return await client.post(
        f"/api/v1/me/shop/orders/{number}/shipments", json=body, headers=merchant.auth
    )


async def edit_product(app: FastAPI, shop: Shop, product_id: str, data: ProductInput) -> None:
    """Edit a product through the service, as the console would, in a transaction of its own."""
    db: Database = app.state.db
    async with db.transaction() as session:
        await catalog.edit(session, shop, product_id, data)


async def run_jobs(app: FastAPI) -> dict[str, int]:
    """One round of every timed sweep the app runs; what each changed, the idle ones left
    out."""
    done = await jobs.run_due(app.state.db, app.state.runtime.sweeps)
    return {name: count for name, count in done.items() if count}


def sweep(app: FastAPI, name: str) -> jobs.AnySweep:
    """One of the app's timed sweeps, by name."""
    return next(found for found in app.state.runtime.sweeps if found.name == name)


async def add_photos(app: FastAPI, shop: Shop, public_id: str, uploads: list[bytes]) -> None:
    await stage_photos(app.state.db, app.state.settings, shop, public_id, uploads)


async def stage_photos(
    db: Database, settings: Settings, shop: Shop, public_id: str, uploads: list[bytes]
) -> None:
    """Photos added as an upload adds them: decoded first, recorded in a transaction of
    their own, their files kept once it committed."""
    prepared = await photos.prepare(settings, uploads)
    with media.staged(settings) as files:
        stored = [photos.stage(files, photo) for photo in prepared]
        async with db.transaction() as session:
            await catalog.add_images(session, shop, public_id, stored)


async def web_login(app: FastAPI, client: httpx.AsyncClient, user: User) -> None:
    """A browser's session cookie for a user made by the builders (no SMS round trip)."""
    db: Database = app.state.db
    settings: Settings = app.state.settings
    async with db.transaction() as session:
        token, _auth = await accounts.start_session(session, settings, user, SessionKind.web)
    client.cookies.set(SESSION_COOKIE, cookie_signer(settings).sign(token).decode())
