"""Builders for catalog and order tests: merchants, buyers and products made through the
services (fast, and clear of the SMS rate limits), then used through the HTTP app."""

import itertools
from dataclasses import dataclass

from fastapi import FastAPI

from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.accounts.service import SessionKind
from pocketshop.catalog import service as catalog
from pocketshop.catalog.models import Product, Sku
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from tests.support import card_number, id_number_aged

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
        await shops.verify_identity(
            session, settings, user, real_name="王小明", id_number=id_number_aged(30)
        )
        await shops.bind_bank_card(
            session, settings, user, holder_name="王小明", card_number=card_number(),
            bank_code="ICBC",
        )
        shop = await shops.open_shop(
            session, settings, user, name=shop_name, description="", logo=None
        )
    return Merchant(user, shop, await api_token(db, settings, user))


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
    """A product with the full SKU matrix of `specs`, every SKU at `price` (or `prices`)."""
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
            product = await catalog.set_status(
                session, shop, product.public_id, ProductStatus.on_sale
            )
        if status is ProductStatus.off_shelf:
            product = await catalog.set_status(session, shop, product.public_id, status)
        rows = await catalog.skus_of(session, product)
    return MadeProduct(product, rows)
