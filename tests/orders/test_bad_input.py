"""Bad input to checkout, cart and shipping is refused with the right status and code, and
NOTHING changes: no order, line, event or shipment row, the same stock everywhere."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.catalog.service import ProductStatus
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
from tests.support import api_error


@dataclass
class World:
    merchant: Merchant
    other: Merchant
    buyer: Buyer
    product: MadeProduct
    others_product: MadeProduct
    off_shelf: MadeProduct
    draft: MadeProduct
    dear: MadeProduct


@pytest.fixture
async def world(app: FastAPI) -> World:
    merchant = await make_merchant(app)
    other = await make_merchant(app, "别人的店")
    return World(
        merchant=merchant,
        other=other,
        buyer=await make_buyer(app),
        product=await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]}),
        others_product=await make_product(app, other.shop),
        off_shelf=await make_product(app, merchant.shop, "下架", status=ProductStatus.off_shelf),
        draft=await make_product(app, merchant.shop, "草稿", status=ProductStatus.draft),
        dear=await make_product(app, merchant.shop, "金条", price=100_000_000, stock=50),
    )


async def refused(
    app: FastAPI, before: dict[str, object], response: httpx.Response, status: int, code: str
) -> None:
    api_error(response, status, code)
    assert await row_counts(app) == before, response.text


def order_body(world: World, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shop": world.merchant.shop.slug,
        "lines": [{"sku_id": world.product.sku("红").public_id, "quantity": 1}],
        "address": ADDRESS,
    }
    return body | changes


def line(sku_id: str, quantity: object = 1, **extra: object) -> dict[str, object]:
    return {"sku_id": sku_id, "quantity": quantity} | extra


async def test_order_bodies_refused(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    red = world.product.sku("红").public_id
    blue = world.product.sku("蓝").public_id
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("client total", order_body(world, total=1), 422, "invalid"),
        ("client price", order_body(world, price=1), 422, "invalid"),
        ("client fee", order_body(world, shipping_fee=0), 422, "invalid"),
        ("line unit_price", order_body(world, lines=[line(red, unit_price=1)]), 422, "invalid"),
        ("line price", order_body(world, lines=[line(red, price=1)]), 422, "invalid"),
        ("line total", order_body(world, lines=[line(red, line_total=1)]), 422, "invalid"),
        ("address price", order_body(world, address=ADDRESS | {"price": 1}), 422, "invalid"),
        *(
            (f"quantity {q!r}", order_body(world, lines=[line(red, q)]), 422, "invalid")
            for q in (0, -1, 1.5, "2", 10**12, 1000, None, True)
        ),
        (
            "quantities of one SKU summing above 999",
            order_body(world, lines=[line(red, 500), line(red, 500)]),
            422,
            "invalid_quantity",
        ),
        ("unknown SKU", order_body(world, lines=[line("0" * 32)]), 422, "unknown_sku"),
        (
            "another shop's SKU",
            order_body(world, lines=[line(world.others_product.skus[0].public_id)]),
            422,
            "unknown_sku",
        ),
        (
            "a good line and another shop's",
            order_body(world, lines=[line(blue), line(world.others_product.skus[0].public_id)]),
            422,
            "unknown_sku",
        ),
        (
            "off-shelf product",
            order_body(world, lines=[line(world.off_shelf.skus[0].public_id)]),
            409,
            "product_unavailable",
        ),
        (
            "draft product",
            order_body(world, lines=[line(world.draft.skus[0].public_id)]),
            409,
            "product_unavailable",
        ),
        ("51 lines", order_body(world, lines=[line(red)] * 51), 422, "invalid"),
        ("no lines", order_body(world, lines=[]), 422, "cart_empty"),
        ("empty cart", {"shop": world.merchant.shop.slug, "address": ADDRESS}, 422, "cart_empty"),
        ("unknown shop", order_body(world, shop="no-such-shop"), 404, "shop_not_found"),
        (
            "total above ¥10,000,000",
            order_body(world, lines=[line(world.dear.skus[0].public_id, 11)]),
            422,
            "total_too_large",
        ),
        ("note too long", order_body(world, note="字" * 201), 422, "note_too_long"),
        # Past the schema's cap of 4 code points a character.
        ("note far too long", order_body(world, note="字" * 801), 422, "invalid"),
        (
            "neither address",
            {"shop": world.merchant.shop.slug, "lines": [line(red)]},
            422,
            "address_required",
        ),
        (
            "both addresses",
            order_body(world, address_id="0" * 32),
            422,
            "address_required",
        ),
        (
            "unknown address id",
            order_body(world, address=None, address_id="0" * 32),
            404,
            "address_not_found",
        ),
    ]
    names = ("province", "city", "district")  # optional in the schema: codes may stand for them
    for field in ADDRESS:
        missing = {k: v for k, v in ADDRESS.items() if k != field}
        code = "invalid_address" if field in names else "invalid"
        cases.append((f"missing {field}", order_body(world, address=missing), 422, code))
        blank = ADDRESS | {field: "   "}
        # Text fields are at least 1 character in the schema; a phone is checked by the service.
        code = "invalid_address" if field == "phone" or field in names else "invalid"
        cases.append((f"blank {field}", order_body(world, address=blank), 422, code))
    for phone in ("12345", "1390013900a", "+1 202 555 0100 12", "010-12345678"):
        cases.append(
            (
                f"phone {phone}",
                order_body(world, address=ADDRESS | {"phone": phone}),
                422,
                "invalid_address",
            )
        )
    cases.append(
        (
            "recipient too long",
            order_body(world, address=ADDRESS | {"recipient": "名" * 31}),
            422,
            "invalid_address",
        )
    )

    before = await row_counts(app)
    for name, body, status, code in cases:
        response = await client.post("/api/v1/orders", json=body, headers=world.buyer.auth)
        assert response.status_code == status, (name, response.text)
        await refused(app, before, response, status, code)
    # A good order still goes through afterwards: the refusals left nothing half-done.
    good = await client.post("/api/v1/orders", json=order_body(world), headers=world.buyer.auth)
    assert good.status_code == 201, good.text


async def test_sold_out_order_of_several_lines_takes_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """The second line fails after the first was reserved: the first comes back too."""
    red = world.product.sku("红").public_id
    blue = world.product.sku("蓝").public_id
    before = await row_counts(app)
    response = await client.post(
        "/api/v1/orders",
        json=order_body(world, lines=[line(red, 10), line(blue, 11)]),
        headers=world.buyer.auth,
    )
    await refused(app, before, response, 409, "sold_out")


async def test_unauthenticated_checkout_is_refused(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    before = await row_counts(app)
    response = await client.post("/api/v1/orders", json=order_body(world))
    await refused(app, before, response, 401, "not_authenticated")
    bad = await client.post(
        "/api/v1/orders", json=order_body(world), headers={"Authorization": "Bearer nope"}
    )
    await refused(app, before, bad, 401, "not_authenticated")


async def test_cart_input_refused(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    slug = world.merchant.shop.slug
    red = world.product.sku("红").public_id
    cases: list[tuple[str, str, object, int, str]] = [
        *((f"quantity {q!r}", red, q, 422, "invalid") for q in (-1, 1.5, "2", 1000, 10**12)),
        ("off shelf", world.off_shelf.skus[0].public_id, 1, 404, "sku_not_found"),
        ("draft", world.draft.skus[0].public_id, 1, 404, "sku_not_found"),
        ("another shop's SKU", world.others_product.skus[0].public_id, 1, 404, "sku_not_found"),
        ("unknown SKU", "0" * 32, 1, 404, "sku_not_found"),
    ]
    before = await row_counts(app)
    for name, sku_id, quantity, status, code in cases:
        response = await client.put(
            f"/api/v1/shops/{slug}/cart/items/{sku_id}",
            json={"quantity": quantity},
            headers=world.buyer.auth,
        )
        assert response.status_code == status, (name, response.text)
        await refused(app, before, response, status, code)
    extra = await client.put(
        f"/api/v1/shops/{slug}/cart/items/{red}",
        json={"quantity": 1, "price": 1},
        headers=world.buyer.auth,
    )
    await refused(app, before, extra, 422, "invalid")


async def test_address_book_input_refused(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    before = await row_counts(app)
    for body, code in [
        (ADDRESS | {"phone": "123"}, "invalid_address"),
        (ADDRESS | {"detail": " "}, "invalid"),  # the schema: 1 character at least
        (ADDRESS | {"detail": "\u200f"}, "invalid_address"),  # empty once cleaned
        ({k: v for k, v in ADDRESS.items() if k != "city"}, "invalid_address"),
        (ADDRESS | {"city_code": "440300"}, "invalid_region"),
        (ADDRESS | {"owner": "someone"}, "invalid"),
    ]:
        response = await client.post("/api/v1/me/addresses", json=body, headers=world.buyer.auth)
        await refused(app, before, response, 422, code)


async def test_shipping_input_refused(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    merchant = world.merchant
    red = world.product.sku("红")
    unpaid = await ordered(client, world.buyer, merchant.shop, [(red, 1)])
    paid = await ordered(client, world.buyer, merchant.shop, [(red, 2)])
    await pay(app, paid)
    other_buyer = await make_buyer(app)
    theirs = await ordered(
        client, other_buyer, world.other.shop, [(world.others_product.skus[0], 1)]
    )
    await pay(app, theirs)

    def ship(number: str, body: dict[str, object]) -> Any:
        return client.post(
            f"/api/v1/me/shop/orders/{number}/shipments", json=body, headers=merchant.auth
        )

    cases: list[tuple[str, str, dict[str, object], int, str]] = [
        (
            "unpaid order",
            unpaid,
            {"carrier": "SF", "tracking_number": "SF123456789012"},
            404,
            "order_not_shippable",
        ),
        (
            "another shop's order",
            theirs,
            {"carrier": "SF", "tracking_number": "SF123456789012"},
            404,
            "order_not_shippable",
        ),
        (
            "unknown number",
            "2026010100000000000",
            {"carrier": "SF", "tracking_number": "SF123456789012"},
            404,
            "order_not_shippable",
        ),
        (
            "unknown carrier",
            paid,
            {"carrier": "DHL", "tracking_number": "1234567890"},
            422,
            "invalid_carrier",
        ),
        (
            "extra field",
            paid,
            {"carrier": "SF", "tracking_number": "SF123456789012", "fee": 1},
            422,
            "invalid",
        ),
        (
            "line not in order",
            paid,
            {
                "carrier": "SF",
                "tracking_number": "SF123456789012",
                "lines": [{"line_id": "0" * 32, "quantity": 1}],
            },
            422,
            "unknown_line",
        ),
        (
            "more than bought",
            paid,
            {
                "carrier": "SF",
                "tracking_number": "SF123456789012",
                "lines": [{"line_id": "LINE", "quantity": 3}],
            },
            422,
            "invalid_quantity",
        ),
        (
            "zero",
            paid,
            {
                "carrier": "SF",
                "tracking_number": "SF123456789012",
                "lines": [{"line_id": "LINE", "quantity": 0}],
            },
            422,
            "invalid",
        ),
    ]
    wrong_formats = {
        "SF": ["1234567890123", "SF12345", "YT1234567890123"],
        "ZTO": ["SF123456789012", "12345678901"],
        "YTO": ["1234567890123", "YT123"],
        "STO": ["ABC123456789"],
        "YUNDA": ["123456789012"],
        "JD": ["JD123", "1234567890123"],
        "EMS": ["EA12345678CN", "E123456789CN", "2123456789012"],
        "JT": ["JT123456789012", "1234567890123"],
        "OTHER": ["12345", "<script>", "ABC 12!"],
    }
    for carrier, numbers in wrong_formats.items():
        for wrong in numbers:
            cases.append(
                (
                    f"{carrier} {wrong}",
                    paid,
                    {"carrier": carrier, "tracking_number": wrong},
                    422,
                    "invalid_tracking_number",
                )
            )
    detail = await client.get(f"/api/v1/me/shop/orders/{paid}", headers=merchant.auth)
    line_id = detail.json()["lines"][0]["id"]

    before = await row_counts(app)
    for name, number, body, status, code in cases:
        if body.get("lines"):
            body["lines"] = [
                {**item, "line_id": line_id if item["line_id"] == "LINE" else item["line_id"]}
                for item in body["lines"]  # type: ignore[attr-defined]
            ]
        response = await ship(number, body)
        assert response.status_code == status, (name, response.text)
        await refused(app, before, response, status, code)
    assert before["shipments"] == 0


async def test_illegal_transitions_answer_409(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    buyer, merchant = world.buyer, world.merchant
    red = world.product.sku("红")
    unpaid = await ordered(client, buyer, merchant.shop, [(red, 1)])
    paid = await ordered(client, buyer, merchant.shop, [(red, 2)])
    await pay(app, paid)

    def buyer_post(number: str, action: str) -> Any:
        return client.post(f"/api/v1/orders/{number}/{action}", headers=buyer.auth)

    before = await row_counts(app)
    # (Cancelling a paid order is allowed: it refunds it, see tests/payments.)
    for response in [
        await buyer_post(unpaid, "confirm-receipt"),
        await buyer_post(paid, "confirm-receipt"),
    ]:
        await refused(app, before, response, 409, "invalid_transition")

    cancelled = await buyer_post(unpaid, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["close_reason"] == "buyer_cancelled"
    after_cancel = await row_counts(app)
    assert after_cancel["stock"] == {**before["stock"], red.id: 8}  # type: ignore[dict-item]
    for response in [
        await buyer_post(unpaid, "cancel"),
        await client.post(f"/api/v1/me/shop/orders/{unpaid}/cancel", headers=merchant.auth),
        await buyer_post(unpaid, "confirm-receipt"),
    ]:
        await refused(app, after_cancel, response, 409, "invalid_transition")

    shipped = await client.post(
        f"/api/v1/me/shop/orders/{paid}/shipments",
        json={"carrier": "YUNDA", "tracking_number": "4312345678901"},
        headers=merchant.auth,
    )
    assert shipped.status_code == 201, shipped.text
    assert (await buyer_post(paid, "confirm-receipt")).status_code == 200
    done = await row_counts(app)
    for response in [
        await buyer_post(paid, "confirm-receipt"),
        await buyer_post(paid, "cancel"),
    ]:
        await refused(app, done, response, 409, "invalid_transition")
