"""The whole journey through the JSON API: a merchant lists a product with photos and specs,
a buyer fills a cart and checks out with a saved address, the merchant ships, the buyer
confirms. Plus idempotent order creation."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.orders import checkout
from tests.commerce import (
    ADDRESS,
    Buyer,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    one_sku_and_buyer,
    order_json,
    order_row,
    ordered,
    pay,
    place_order,
    row_counts,
    ship,
    stock_of,
)
from tests.support import api_error, image_bytes

SPECS = [{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺码", "values": ["S", "M"]}]
PRICES = {("红", "S"): 9900, ("红", "M"): 10900, ("蓝", "S"): 9900, ("蓝", "M"): 12900}


async def create_listed_product(client: httpx.AsyncClient, merchant: Merchant) -> dict[str, str]:
    """Create, add a photo, publish; returns the SKU ids by 'colour/size'."""
    created = await client.post(
        "/api/v1/me/shop/products",
        json={
            "title": "纯棉T恤",
            "description": "<p>100% 纯棉</p>",
            "specs": SPECS,
            "skus": [
                {"spec": list(spec), "price": price, "stock": 5, "code": f"T-{''.join(spec)}"}
                for spec, price in PRICES.items()
            ],
        },
        headers=merchant.auth,
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["status"] == "draft"
    assert [sku["spec"] for sku in product["skus"]] == [list(spec) for spec in PRICES]
    assert (product["price_min"], product["price_max"]) == (9900, 12900)

    uploaded = await client.post(
        f"/api/v1/me/shop/products/{product['id']}/images",
        files=[("images", ("photo.jpg", image_bytes("JPEG", (800, 600)), "image/jpeg"))],
        headers=merchant.auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert len(uploaded.json()["images"]) == 1

    published = await client.put(
        f"/api/v1/me/shop/products/{product['id']}/status",
        json={"status": "on_sale"},
        headers=merchant.auth,
    )
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "on_sale"
    return {"/".join(sku["spec"]): sku["id"] for sku in product["skus"]} | {"id": product["id"]}


async def fill_cart(
    client: httpx.AsyncClient, buyer: Buyer, slug: str, items: dict[str, int]
) -> dict[str, object]:
    body: dict[str, object] = {}
    for sku_id, quantity in items.items():
        response = await client.put(
            f"/api/v1/shops/{slug}/cart/items/{sku_id}",
            json={"quantity": quantity},
            headers=buyer.auth,
        )
        assert response.status_code == 200, response.text
        body = response.json()
    return body


async def test_browse_cart_checkout_ship_confirm(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    slug = merchant.shop.slug
    skus = await create_listed_product(client, merchant)
    rule = await client.put(
        "/api/v1/me/shop/shipping-rule",
        json={"kind": "free_above", "fee": 1000, "free_above": 30000},
        headers=merchant.auth,
    )
    assert rule.status_code == 200, rule.text
    assert (rule.json()["fee"], rule.json()["free_above"]) == (1000, 30000)

    buyer = await make_buyer(app)
    listed = await client.get(f"/api/v1/shops/{slug}/products")
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["id"], item["title"], item["stock"]) == (skus["id"], "纯棉T恤", 20)
    assert item["cover_url"].startswith("/media/products/thumbs/")
    page = await client.get(f"/api/v1/shops/{slug}/products/{skus['id']}")
    assert page.status_code == 200, page.text
    assert len(page.json()["skus"]) == 4

    # Below the threshold: 9900 + 2 × 10900 = 31700 ≥ 30000 would be free, so 1 + 1 first.
    cart = await fill_cart(client, buyer, slug, {skus["红/S"]: 1, skus["蓝/M"]: 1})
    assert (cart["items_total"], cart["shipping_fee"], cart["total"]) == (22800, 1000, 23800)
    address = await client.post(
        "/api/v1/me/addresses", json=ADDRESS | {"is_default": True}, headers=buyer.auth
    )
    assert address.status_code == 201, address.text
    address_id = address.json()["id"]

    first = await client.post(
        "/api/v1/orders", json={"shop": slug, "address_id": address_id}, headers=buyer.auth
    )
    assert first.status_code == 201, first.text
    order = first.json()
    assert (order["status"], order["source"]) == ("pending_payment", "checkout")
    assert (order["items_total"], order["shipping_fee"], order["total"]) == (22800, 1000, 23800)
    assert [(line["spec"], line["unit_price"], line["quantity"]) for line in order["lines"]] == [
        ("红 / S", 9900, 1),
        ("蓝 / M", 12900, 1),
    ]
    assert (order["recipient"], order["phone"]) == (ADDRESS["recipient"], "+8613900139000")
    emptied = await client.get(f"/api/v1/shops/{slug}/cart", headers=buyer.auth)
    assert emptied.json()["lines"] == []

    # At the threshold: shipping is free.
    await fill_cart(client, buyer, slug, {skus["红/M"]: 2, skus["蓝/S"]: 1})
    second = await client.post(
        "/api/v1/orders", json={"shop": slug, "address_id": address_id}, headers=buyer.auth
    )
    assert second.status_code == 201, second.text
    assert (second.json()["items_total"], second.json()["shipping_fee"]) == (31700, 0)
    assert second.json()["total"] == 31700

    seen = await client.get("/api/v1/me/shop/orders", headers=merchant.auth)
    assert seen.status_code == 200, seen.text
    assert [o["number"] for o in seen.json()["items"]] == [
        second.json()["number"],
        order["number"],
    ]
    product = await client.get(f"/api/v1/me/shop/products/{skus['id']}", headers=merchant.auth)
    assert {"/".join(s["spec"]): s["stock"] for s in product.json()["skus"]} == {
        "红/S": 4,
        "红/M": 3,
        "蓝/S": 4,
        "蓝/M": 4,
    }

    number = order["number"]
    await pay(app, number)
    shipped = await ship(client, merchant, number, "sf 1234 5678 9012")
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["status"] == "shipped"
    [package] = shipped.json()["shipments"]
    assert (package["carrier"], package["tracking_number"]) == ("SF", "SF123456789012")

    confirmed = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
    assert confirmed.status_code == 200, confirmed.text
    done = confirmed.json()
    assert done["status"] == "completed"
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in done["events"]] == [
        (None, "pending_payment", "buyer"),
        ("pending_payment", "paid", "system"),
        ("paid", "shipped", "merchant"),
        ("shipped", "completed", "buyer"),
    ]
    mine = await client.get("/api/v1/orders", headers=buyer.auth)
    assert [(o["number"], o["status"]) for o in mine.json()["items"]] == [
        (second.json()["number"], "pending_payment"),
        (number, "completed"),
    ]


async def test_partial_shipments_then_the_rest(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]})
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(made.sku("红"), 3), (made.sku("蓝"), 1)])
    await pay(app, number)
    detail = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
    red, _blue = detail.json()["lines"]

    first = await ship(
        client, merchant, number, "773012345678901", carrier="ZTO", lines={red["id"]: 2}
    )
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "partially_shipped"
    assert [line["shipped_quantity"] for line in first.json()["lines"]] == [2, 0]
    assert first.json()["auto_confirm_at"] is None

    too_many = await ship(
        client, merchant, number, "773012345678902", carrier="ZTO", lines={red["id"]: 2}
    )
    api_error(too_many, 422, "invalid_quantity")

    rest = await ship(client, merchant, number, "EA123456789CN", carrier="EMS")
    assert rest.status_code == 201, rest.text
    body = rest.json()
    assert body["status"] == "shipped"
    assert [line["shipped_quantity"] for line in body["lines"]] == [3, 1]
    assert [len(package["lines"]) for package in body["shipments"]] == [1, 2]
    assert body["auto_confirm_at"] is not None

    again = await ship(client, merchant, number, "EA123456789CN", carrier="EMS")
    api_error(again, 404, "order_not_shippable")


# --- Idempotency-Key --------------------------------------------------------------------------


async def posted_twice(
    client: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    """Place an order, then retry it with the same key: the retry replays the first answer."""
    first = await client.post("/api/v1/orders", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = await client.post("/api/v1/orders", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    return first


async def test_same_key_and_body_give_the_same_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=10)
    headers = buyer.auth | {"Idempotency-Key": "order-1"}
    body = order_json(merchant.shop, [(sku, 2)])
    first = await posted_twice(client, body, headers)
    assert (await row_counts(app))["orders"] == 1
    assert await stock_of(app, sku.id) == 8

    other = order_json(merchant.shop, [(sku, 3)])
    api_error(
        await client.post("/api/v1/orders", json=other, headers=headers),
        422,
        "idempotency_key_reused",
    )
    assert (await row_counts(app))["orders"] == 1
    assert await stock_of(app, sku.id) == 8

    # Keys are per buyer: another buyer's same key is a new order.
    someone = await make_buyer(app)
    theirs = await client.post(
        "/api/v1/orders", json=body, headers=someone.auth | {"Idempotency-Key": "order-1"}
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["number"] != first.json()["number"]
    assert await stock_of(app, sku.id) == 6


async def test_a_retried_cart_checkout_gives_the_same_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=10)
    await fill_cart(client, buyer, merchant.shop.slug, {sku.public_id: 2})
    headers = buyer.auth | {"Idempotency-Key": "cart-checkout"}
    body = {"shop": merchant.shop.slug, "address": ADDRESS}
    # The first order empties the cart; the retry must still answer with the order it made.
    await posted_twice(client, body, headers)
    assert await stock_of(app, sku.id) == 8


async def test_concurrent_requests_with_one_key_make_one_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    headers = buyer.auth | {"Idempotency-Key": "double-tap"}
    body = order_json(merchant.shop, [(sku, 1)])
    responses = await asyncio.gather(
        *(client.post("/api/v1/orders", json=body, headers=headers) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert len({r.json()["number"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert (await row_counts(app))["orders"] == 1
    assert await stock_of(app, sku.id) == 99


async def test_bad_idempotency_key_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop)
    buyer = await make_buyer(app)
    before = await row_counts(app)
    for key in ("x" * 65, "   "):
        response = await place_order(
            client,
            Buyer(buyer.user, buyer.auth | {"Idempotency-Key": key}),
            merchant.shop,
            [(made.skus[0], 1)],
        )
        api_error(response, 422, "invalid_idempotency_key")
    assert await row_counts(app) == before


async def test_order_number_is_date_and_random_digits(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop)
    buyer = await make_buyer(app)
    numbers = [await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)]) for _ in range(3)]
    assert len(set(numbers)) == 3
    assert all(len(n) == 20 and n.isdigit() for n in numbers)
    assert len({n[8:] for n in numbers}) == 3
    stored = await order_row(app, numbers[0])
    assert stored.total == 9900


async def test_a_taken_order_number_is_drawn_again(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    first = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    draws = iter([first, first, "20991231000000000001"])
    monkeypatch.setattr(checkout, "new_number", lambda _shop: next(draws))
    second = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    assert second == "20991231000000000001"
    assert await stock_of(app, sku.id) == 8  # both orders hold their unit, once each


async def test_no_free_number_is_a_clear_try_again(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    taken = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    monkeypatch.setattr(checkout, "new_number", lambda _shop: taken)
    before = await row_counts(app)
    answer = await place_order(client, buyer, merchant.shop, [(sku, 1)])
    api_error(answer, 409, "try_again")
    assert await row_counts(app) == before
    assert await stock_of(app, sku.id) == 9
