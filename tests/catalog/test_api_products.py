"""The merchant's catalog through the JSON API: products with a SKU matrix, status, search,
stock adjustments; bad input refused with nothing stored; user HTML made inert."""

import itertools
from typing import Any

import httpx
from fastapi import FastAPI

from tests.commerce import (
    Merchant,
    add_photos,
    make_buyer,
    make_merchant,
    make_product,
    one_sku_and_buyer,
    ordered,
    place_order,
    row_counts,
    stock_of,
)
from tests.support import api_error, image_bytes

PRODUCTS = "/api/v1/me/shop/products"


def matrix(
    specs: dict[str, list[str]], price: int = 1000, stock: int = 5, **extra: Any
) -> dict[str, Any]:
    return {
        "title": "帆布包",
        "specs": [{"name": name, "values": values} for name, values in specs.items()],
        "skus": [
            {"spec": list(combo), "price": price, "stock": stock}
            for combo in itertools.product(*specs.values())
        ],
    } | extra


async def create(client: httpx.AsyncClient, merchant: Merchant, body: dict[str, Any]) -> Any:
    response = await client.post(PRODUCTS, json=body, headers=merchant.auth)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_edit_publish(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    body = matrix({"颜色": ["红", "蓝", "绿"], "尺码": ["S", "M"], "款式": ["A"]})
    body["skus"][0] |= {"price": 1500, "list_price": 2000, "code": "RED-S"}
    product = await create(client, merchant, body)
    assert product["status"] == "draft"
    assert len(product["skus"]) == 6
    assert product["skus"][0] | {"id": None} == {
        "id": None,
        "spec": ["红", "S", "A"],
        "price": 1500,
        "list_price": 2000,
        "stock": 5,
        "code": "RED-S",
    }
    assert (product["price_min"], product["price_max"]) == (1000, 1500)

    # Not for sale until published.
    public = f"/api/v1/shops/{merchant.shop.slug}/products"
    assert (await client.get(public)).json()["items"] == []
    api_error(await client.get(f"{public}/{product['id']}"), 404, "product_not_found")

    url = f"{PRODUCTS}/{product['id']}/status"

    async def move_to(status: str) -> httpx.Response:
        return await client.put(url, json={"status": status}, headers=merchant.auth)

    api_error(await move_to("off_shelf"), 409, "invalid_transition")
    # Not on sale without a photo.
    refused = api_error(await move_to("on_sale"), 409, "photo_required")
    assert refused["field"] == "images"
    got = await client.get(f"{PRODUCTS}/{product['id']}", headers=merchant.auth)
    assert got.json()["status"] == "draft"
    photo = ("a.png", image_bytes(), "image/png")
    with_photo = await client.post(
        f"{PRODUCTS}/{product['id']}/images", files=[("images", photo)], headers=merchant.auth
    )
    assert with_photo.status_code == 201, with_photo.text
    published = await move_to("on_sale")
    assert published.json()["status"] == "on_sale"
    # ...and its last photo stays while it is on sale.
    image = f"{PRODUCTS}/{product['id']}/images/{with_photo.json()['images'][0]['id']}"
    api_error(await client.delete(image, headers=merchant.auth), 409, "photo_required")
    assert len(published.json()["images"]) == 1
    assert [item["id"] for item in (await client.get(public)).json()["items"]] == [product["id"]]
    api_error(await move_to("draft"), 409, "invalid_transition")
    off = await move_to("off_shelf")
    assert off.json()["status"] == "off_shelf"
    assert (await client.get(public)).json()["items"] == []
    api_error(await client.get(f"{public}/{product['id']}"), 404, "product_not_found")


async def test_edit_keeps_stock_and_retires_removed_combinations(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]}, stock=10)
    buyer = await make_buyer(app)
    await ordered(client, buyer, merchant.shop, [(made.sku("红"), 3)])

    edited = await client.put(
        f"{PRODUCTS}/{made.id}",
        json=matrix({"颜色": ["红", "黑"]}, price=1200, stock=999, title="新帆布包"),
        headers=merchant.auth,
    )
    assert edited.status_code == 200, edited.text
    skus = {sku["spec"][0]: sku for sku in edited.json()["skus"]}
    assert set(skus) == {"红", "黑"}
    assert (skus["红"]["stock"], skus["红"]["price"]) == (7, 1200)  # a sale is not overwritten
    assert skus["黑"]["stock"] == 999  # a new combination starts with what was given
    assert edited.json()["title"] == "新帆布包"

    # The retired combination can no longer be ordered, but its order lines keep it.
    retired = await place_order(client, buyer, merchant.shop, [(made.sku("蓝"), 1)])
    api_error(retired, 422, "unknown_sku")
    assert await stock_of(app, made.sku("蓝").id) == 10


BAD_PRODUCTS: list[tuple[dict[str, Any], str]] = [
    (matrix({"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"]}), "invalid"),
    (matrix({"颜色": ["红", "红"]}), "invalid_spec"),
    (matrix({"颜色": ["Red", "red"]}), "invalid_spec"),
    (matrix({"颜色": ["红", " "]}), "invalid"),  # the schema: 1 character at least
    (matrix({"颜色": []}) | {"skus": [{"spec": [], "price": 100}]}, "invalid"),
    (matrix({"颜色": ["红"], " 颜色": ["蓝"]}), "invalid_spec"),
    (matrix({"颜色色色色色色色色色色": ["红"]}), "invalid_spec"),
    (
        matrix({"颜色": ["红", "蓝"]}) | {"skus": [{"spec": ["红"], "price": 100}]},
        "invalid_sku",
    ),
    (
        matrix({"颜色": ["红"]})
        | {"skus": [{"spec": ["红"], "price": 100}, {"spec": ["红"], "price": 100}]},
        "invalid_sku",
    ),
    (
        matrix({"颜色": ["红"]})
        | {"skus": [{"spec": ["红"], "price": 100}, {"spec": ["绿"], "price": 100}]},
        "invalid_sku",
    ),
    (matrix({"颜色": ["红"]}) | {"skus": []}, "invalid"),
    (matrix({"颜色": ["红"]}, price=0), "invalid"),  # the schema: from 1 fen
    (matrix({"颜色": ["红"]}, price=-1), "invalid"),
    (matrix({"颜色": ["红"]}, price=100_000_001), "invalid"),
    (matrix({"颜色": ["红"]}, price=10.5), "invalid"),
    (matrix({"颜色": ["红"]}, price="10"), "invalid"),
    (
        matrix({"颜色": ["红"]}) | {"skus": [{"spec": ["红"], "price": 1000, "list_price": 999}]},
        "invalid_list_price",
    ),
    (matrix({"颜色": ["红"]}, stock=-1), "invalid"),
    (matrix({"颜色": ["红"]}, title=" "), "invalid"),
    (matrix({"颜色": ["红"]}, title="\u200b"), "title_required"),  # empty once cleaned
    (matrix({"颜色": ["红"]}, title="长" * 61), "title_too_long"),
    (matrix({"颜色": ["红"]}, status="on_sale"), "invalid"),
    (matrix({"颜色": ["红"]}, shop_id=1), "invalid"),
    (matrix({"颜色": ["红"]}, group_id="0" * 32), "group_not_found"),
    (matrix({"颜色": ["红"]}, category="no-such"), "invalid_category"),
    (
        matrix(
            {
                "a": [str(n) for n in range(20)],
                "b": [str(n) for n in range(20)],
                "c": ["x", "y"],
            }
        )
        | {"skus": [{"spec": ["0", "0", "x"], "price": 100}]},
        "too_many_skus",
    ),
]


async def test_bad_products_are_refused_and_nothing_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    before = await row_counts(app)
    for body, code in BAD_PRODUCTS:
        response = await client.post(PRODUCTS, json=body, headers=merchant.auth)
        assert response.status_code in (404, 422), (body, response.text)
        api_error(response, 404 if code == "group_not_found" else 422, code)
    assert await row_counts(app) == before


async def test_a_bad_edit_changes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]})
    before = await row_counts(app)
    original = (await client.get(f"{PRODUCTS}/{made.id}", headers=merchant.auth)).json()
    bad = matrix({"颜色": ["红", "蓝"]}, price=1)
    bad["skus"][1]["price"] = 0
    api_error(
        await client.put(f"{PRODUCTS}/{made.id}", json=bad, headers=merchant.auth),
        422,
        "invalid",  # the schema says prices start at 1 fen
    )
    assert await row_counts(app) == before
    assert (await client.get(f"{PRODUCTS}/{made.id}", headers=merchant.auth)).json() == original


async def test_html_from_merchants_is_made_inert(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    title = '<img src=x onerror="alert(1)">包 & <b>'
    description = (
        '<p onclick="steal()">好<b>包</b></p>'
        "<script>alert(document.cookie)</script>"
        '<img src="https://cdn.example.com/a.png" onerror="alert(1)" alt="图">'
        '<a href="javascript:alert(1)">点我</a>'
        '<a href="https://example.com/x" target="_blank">链接</a>'
        "<iframe src=https://evil.example></iframe>"
        '<p style="position:fixed">样式</p>'
    )
    product = await create(
        client, merchant, matrix({"颜色": ["红"]}, title=title, description=description)
    )
    stored = product["description"]
    for inert in (
        "<script",
        "alert(document",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "style=",
    ):
        assert inert not in stored, stored
    # Formatting only: no images, no links (their text stays), no attributes.
    assert stored == "<p>好<b>包</b></p>点我链接<p>样式</p>"
    # The title is plain text: kept as typed, never interpreted (pages escape it).
    assert product["title"] == title
    await add_photos(app, merchant.shop, product["id"], [image_bytes()])
    await client.put(
        f"{PRODUCTS}/{product['id']}/status", json={"status": "on_sale"}, headers=merchant.auth
    )
    public = await client.get(f"/api/v1/shops/{merchant.shop.slug}/products/{product['id']}")
    assert (public.json()["title"], public.json()["description"]) == (title, stored)


async def test_search_is_case_insensitive_and_literal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    titles = [
        "立减50%优惠",
        "50元好物",
        "ABC 帆布包",
        "abc杯子",
        "a_c 特别款",
        "Axc 杯",
        "反\\斜杠",
    ]
    for title in titles:
        await make_product(app, merchant.shop, title)
    other = await make_merchant(app, "别人的店")
    await make_product(app, other.shop, "abc 别人的")

    async def search(q: str) -> set[str]:
        response = await client.get(PRODUCTS, params={"q": q}, headers=merchant.auth)
        assert response.status_code == 200, response.text
        return {item["title"] for item in response.json()["items"]}

    assert await search("50%") == {"立减50%优惠"}
    assert await search("%") == {"立减50%优惠"}
    assert await search("50") == {"立减50%优惠", "50元好物"}
    assert await search("a_c") == {"a_c 特别款"}
    assert await search("_") == {"a_c 特别款"}
    assert await search("abc") == {"ABC 帆布包", "abc杯子"}
    assert await search("ＡＢＣ") == {"ABC 帆布包", "abc杯子"}  # full-width letters fold too
    assert await search("\\") == {"反\\斜杠"}
    assert await search("  ") == set(titles)
    assert await search("没有") == set()


async def test_stock_adjustments(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]}, stock=10)
    red = made.sku("红")
    url = f"/api/v1/me/shop/skus/{red.public_id}/stock-adjustments"

    added = await client.post(
        url, json={"delta": 5, "reason": "restock", "note": " 到货 "}, headers=merchant.auth
    )
    assert added.status_code == 201, added.text
    assert (added.json()["stock_after"], added.json()["note"]) == (15, "到货")
    removed = await client.post(
        url, json={"delta": -15, "reason": "damaged"}, headers=merchant.auth
    )
    assert removed.json()["stock_after"] == 0
    assert await stock_of(app, red.id) == 0

    before = await row_counts(app)
    api_error(
        await client.post(url, json={"delta": -1, "reason": "correction"}, headers=merchant.auth),
        409,
        "stock_out_of_range",
    )
    for body, code in [
        ({"delta": 0, "reason": "other"}, "invalid_delta"),
        ({"delta": 1, "reason": "stolen"}, "invalid"),
        ({"delta": 1}, "invalid"),
        ({"delta": 1.5, "reason": "other"}, "invalid"),
        ({"delta": 1, "reason": "other", "note": "注" * 201}, "note_too_long"),
        ({"delta": 1_000_001, "reason": "other"}, "invalid"),
    ]:
        api_error(await client.post(url, json=body, headers=merchant.auth), 422, code)
    assert await row_counts(app) == before

    history = await client.get(f"{PRODUCTS}/{made.id}/stock-adjustments", headers=merchant.auth)
    assert [(h["sku_id"], h["delta"], h["stock_after"], h["reason"]) for h in history.json()] == [
        (red.public_id, -15, 0, "damaged"),
        (red.public_id, 5, 15, "restock"),
    ]
    blue = await client.get(f"{PRODUCTS}/{made.id}", headers=merchant.auth)
    assert {s["spec"][0]: s["stock"] for s in blue.json()["skus"]} == {"红": 0, "蓝": 10}


async def test_stock_adjustment_cannot_undercut_a_sale(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=5)
    await ordered(client, buyer, merchant.shop, [(sku, 4)])
    url = f"/api/v1/me/shop/skus/{sku.public_id}/stock-adjustments"
    # The merchant thinks there are 5; only 1 is left after the sale.
    api_error(
        await client.post(url, json={"delta": -5, "reason": "damaged"}, headers=merchant.auth),
        409,
        "stock_out_of_range",
    )
    assert await stock_of(app, sku.id) == 1


async def test_formatted_description_round_trip(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The API takes the HTML the console's editor makes, cleaned the same way."""
    merchant = await make_merchant(app)
    formatted = "<h3>尺寸</h3><p><strong>长</strong> 20<br><em>宽</em> 10</p><ol><li>一</li></ol>"
    product = await create(client, merchant, matrix({}, description=formatted))
    assert product["description"] == formatted
    edited = await client.put(
        f"{PRODUCTS}/{product['id']}",
        json=matrix({}, description='<div style="x">新<script>1</script></div>'),
        headers=merchant.auth,
    )
    assert edited.json()["description"] == "<p>新</p>"
    again = await client.get(f"{PRODUCTS}/{product['id']}", headers=merchant.auth)
    assert again.json()["description"] == "<p>新</p>"
