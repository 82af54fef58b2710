"""Merchant A never reaches merchant B's products or orders, buyer X never reaches buyer Y's
orders, cart or addresses: 404 (not 403, which would confirm the id exists), and B's and Y's
data stay as they were."""

import io
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from tests.commerce import (
    ADDRESS,
    Buyer,
    MadeProduct,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    ordered,
    pay,
    row_counts,
)
from tests.support import api_error, image_bytes, media_files


@dataclass
class Two:
    a: Merchant
    b: Merchant
    b_product: MadeProduct
    b_draft_id: str
    x: Buyer
    y: Buyer
    y_order: str
    y_paid: str


@pytest.fixture
async def two(app: FastAPI, client: httpx.AsyncClient) -> Two:
    a = await make_merchant(app, "A 的店")
    b = await make_merchant(app, "B 的店")
    await make_product(app, a.shop, "A 的商品")
    b_product = await make_product(app, b.shop, "B 的商品", specs={"颜色": ["红", "蓝"]})
    created = await client.post(
        "/api/v1/me/shop/products",
        json={"title": "B 的草稿", "skus": [{"price": 100, "stock": 1}]},
        headers=b.auth,
    )
    assert created.status_code == 201, created.text
    x, y = await make_buyer(app), await make_buyer(app)
    y_order = await ordered(client, y, b.shop, [(b_product.sku("红"), 1)])
    y_paid = await ordered(client, y, b.shop, [(b_product.sku("蓝"), 2)])
    await pay(app, y_paid)
    return Two(a, b, b_product, created.json()["id"], x, y, y_order, y_paid)


PRODUCT_BODY = {
    "title": "改了",
    "specs": [{"name": "颜色", "values": ["红", "蓝"]}],
    "skus": [{"spec": ["红"], "price": 1, "stock": 0}, {"spec": ["蓝"], "price": 1, "stock": 0}],
}


async def test_merchant_cannot_reach_another_shops_products(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    a = two.a.auth
    listed = await client.get("/api/v1/me/shop/products", headers=a)
    assert [p["title"] for p in listed.json()["items"]] == ["A 的商品"]
    searched = await client.get("/api/v1/me/shop/products?q=B", headers=a)
    assert searched.json()["items"] == []
    product_id = two.b_product.id
    url = f"/api/v1/me/shop/products/{product_id}"
    before = await row_counts(app)
    files_before = media_files(app.state.settings)
    attempts = [
        await client.get(url, headers=a),
        await client.put(url, json=PRODUCT_BODY, headers=a),
        await client.put(f"{url}/status", json={"status": "off_shelf"}, headers=a),
        await client.put(
            f"/api/v1/me/shop/products/{two.b_draft_id}/status",
            json={"status": "on_sale"},
            headers=a,
        ),
        await client.post(
            f"{url}/images", files=[("images", ("p.png", image_bytes(), "image/png"))], headers=a
        ),
        await client.get(f"{url}/stock-adjustments", headers=a),
    ]
    for response in attempts:
        api_error(response, 404, "product_not_found")
    adjust = await client.post(
        f"/api/v1/me/shop/skus/{two.b_product.skus[0].public_id}/stock-adjustments",
        json={"delta": -5, "reason": "damaged"},
        headers=a,
    )
    api_error(adjust, 404, "sku_not_found")
    assert await row_counts(app) == before
    assert media_files(app.state.settings) == files_before
    mine = await client.get(url, headers=two.b.auth)
    assert (mine.json()["title"], mine.json()["status"]) == ("B 的商品", "on_sale")
    draft = await client.get(f"/api/v1/me/shop/products/{two.b_draft_id}", headers=two.b.auth)
    assert draft.json()["status"] == "draft"


async def test_merchant_cannot_reach_another_shops_orders(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    a = two.a.auth
    listed = await client.get("/api/v1/me/shop/orders", headers=a)
    assert listed.json()["items"] == []
    by_number = await client.get(f"/api/v1/me/shop/orders?q={two.y_order}", headers=a)
    assert by_number.json()["items"] == []
    exported = await client.get("/api/v1/me/shop/orders.csv", headers=a)
    assert exported.status_code == 200
    assert two.y_order not in exported.text
    workbook = await client.get("/api/v1/me/shop/orders.xlsx", headers=a)
    assert workbook.status_code == 200
    numbers = {row[0] for row in load_workbook(io.BytesIO(workbook.content)).active.values}
    assert not numbers & {two.y_order, two.y_paid}
    before = await row_counts(app)
    for number in (two.y_order, two.y_paid):
        api_error(
            await client.get(f"/api/v1/me/shop/orders/{number}", headers=a), 404, "order_not_found"
        )
        api_error(
            await client.post(f"/api/v1/me/shop/orders/{number}/cancel", headers=a),
            404,
            "order_not_found",
        )
        shipped = await client.post(
            f"/api/v1/me/shop/orders/{number}/shipments",
            json={"carrier": "SF", "tracking_number": "SF123456789012"},
            headers=a,
        )
        api_error(shipped, 404, "order_not_shippable")
    assert await row_counts(app) == before
    theirs = await client.get("/api/v1/me/shop/orders", headers=two.b.auth)
    assert {o["number"]: o["status"] for o in theirs.json()["items"]} == {
        two.y_order: "pending_payment",
        two.y_paid: "paid",
    }


async def test_buyer_cannot_reach_another_buyers_orders(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    x = two.x.auth
    assert (await client.get("/api/v1/orders", headers=x)).json()["items"] == []
    before = await row_counts(app)
    for number in (two.y_order, two.y_paid):
        for response in [
            await client.get(f"/api/v1/orders/{number}", headers=x),
            await client.post(f"/api/v1/orders/{number}/cancel", headers=x),
            await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=x),
        ]:
            api_error(response, 404, "order_not_found")
    # The merchant's routes are not a way round it either: x has no shop.
    api_error(
        await client.get(f"/api/v1/me/shop/orders/{two.y_order}", headers=x), 403, "not_a_merchant"
    )
    assert await row_counts(app) == before
    mine = await client.get(f"/api/v1/orders/{two.y_order}", headers=two.y.auth)
    assert mine.json()["status"] == "pending_payment"


async def test_buyer_cannot_use_another_buyers_address_or_cart(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    x, y = two.x.auth, two.y.auth
    saved = await client.post("/api/v1/me/addresses", json=ADDRESS, headers=y)
    assert saved.status_code == 201, saved.text
    y_address = saved.json()["id"]
    slug = two.b.shop.slug
    red = two.b_product.sku("红").public_id
    in_cart = await client.put(
        f"/api/v1/shops/{slug}/cart/items/{red}", json={"quantity": 2}, headers=y
    )
    assert in_cart.status_code == 200, in_cart.text

    assert (await client.get("/api/v1/me/addresses", headers=x)).json() == []
    assert (await client.get(f"/api/v1/shops/{slug}/cart", headers=x)).json()["lines"] == []
    before = await row_counts(app)
    checkout = await client.post(
        "/api/v1/orders",
        json={"shop": slug, "address_id": y_address, "lines": [{"sku_id": red, "quantity": 1}]},
        headers=x,
    )
    api_error(checkout, 404, "address_not_found")
    api_error(
        await client.put(f"/api/v1/me/addresses/{y_address}", json=ADDRESS, headers=x),
        404,
        "address_not_found",
    )
    api_error(
        await client.delete(f"/api/v1/me/addresses/{y_address}", headers=x),
        404,
        "address_not_found",
    )
    # Removing "that SKU" from x's cart touches only x's cart.
    removed = await client.delete(f"/api/v1/shops/{slug}/cart/items/{red}", headers=x)
    assert removed.status_code == 200
    assert await row_counts(app) == before
    y_cart = await client.get(f"/api/v1/shops/{slug}/cart", headers=y)
    assert [(line["sku_id"], line["quantity"]) for line in y_cart.json()["lines"]] == [(red, 2)]
    y_book = await client.get("/api/v1/me/addresses", headers=y)
    assert [address["id"] for address in y_book.json()] == [y_address]
