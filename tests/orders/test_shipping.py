"""Shipping fee rules (free, flat, free above a threshold) as orders and carts apply them, and
the couriers' tracking-number formats."""

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.errors import InvalidInput
from pocketshop.i18n import using
from pocketshop.orders import shipping, shipping_fees
from pocketshop.orders.models import Address
from tests.commerce import make_buyer, make_merchant, make_product, place_order
from tests.support import api_error

RULE = "/api/v1/me/shop/shipping-rule"


async def test_fee_rules_apply_to_orders(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, price=5000, stock=100)
    sku = made.skus[0]

    default = await client.get(RULE, headers=merchant.auth)
    assert default.json()["kind"] == "free"

    async def fee_for(quantity: int) -> tuple[int, int]:
        # A buyer each: one may hold only so many unpaid orders in a shop.
        buyer = await make_buyer(app)
        response = await place_order(client, buyer, merchant.shop, [(sku, quantity)])
        assert response.status_code == 201, response.text
        return response.json()["shipping_fee"], response.json()["total"]

    assert await fee_for(1) == (0, 5000)

    flat = await client.put(RULE, json={"kind": "flat", "fee": 800}, headers=merchant.auth)
    assert flat.status_code == 200, flat.text
    assert (flat.json()["fee"], flat.json()["free_above"]) == (800, None)
    assert await fee_for(1) == (800, 5800)
    assert await fee_for(10) == (800, 50800)

    threshold = await client.put(
        RULE, json={"kind": "free_above", "fee": 1200, "free_above": 10000}, headers=merchant.auth
    )
    assert threshold.status_code == 200, threshold.text
    assert threshold.json()["description"]
    assert await fee_for(1) == (1200, 6200)  # below
    assert await fee_for(2) == (0, 10000)  # exactly at the threshold: free
    assert await fee_for(3) == (0, 15000)  # above

    free = await client.put(
        RULE, json={"kind": "free", "fee": 500, "free_above": 1}, headers=merchant.auth
    )
    assert (free.json()["fee"], free.json()["free_above"]) == (0, None)
    assert await fee_for(1) == (0, 5000)


async def test_cart_shows_the_fee_it_will_charge(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, price=5000)
    buyer = await make_buyer(app)
    await client.put(
        RULE, json={"kind": "free_above", "fee": 1000, "free_above": 10000}, headers=merchant.auth
    )
    url = f"/api/v1/shops/{merchant.shop.slug}/cart"
    empty = await client.get(url, headers=buyer.auth)
    assert (empty.json()["items_total"], empty.json()["shipping_fee"]) == (0, 0)
    one = await client.put(
        f"{url}/items/{made.skus[0].public_id}", json={"quantity": 1}, headers=buyer.auth
    )
    assert (one.json()["items_total"], one.json()["shipping_fee"], one.json()["total"]) == (
        5000,
        1000,
        6000,
    )
    two = await client.put(
        f"{url}/items/{made.skus[0].public_id}", json={"quantity": 2}, headers=buyer.auth
    )
    assert (two.json()["items_total"], two.json()["shipping_fee"]) == (10000, 0)


async def test_bad_rules_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    await client.put(RULE, json={"kind": "flat", "fee": 800}, headers=merchant.auth)
    # The schema states each kind's fields and bounds (one shape per kind).
    for body, code in [
        ({"kind": "flat", "fee": 0}, "invalid"),
        ({"kind": "flat"}, "invalid"),
        ({"kind": "flat", "fee": 100_001}, "invalid"),
        ({"kind": "free_above", "fee": 500}, "invalid"),
        ({"kind": "free_above", "fee": 500, "free_above": 0}, "invalid"),
        ({"kind": "flat", "fee": 1.5}, "invalid"),
        ({"kind": "flat", "fee": "800"}, "invalid"),
        ({"kind": "flat", "fee": -1}, "invalid"),
        ({"kind": "cheap"}, "invalid"),
        ({"kind": "flat", "fee": 800, "shop_id": 2}, "invalid"),
    ]:
        api_error(await client.put(RULE, json=body, headers=merchant.auth), 422, code)
    kept = await client.get(RULE, headers=merchant.auth)
    assert (kept.json()["kind"], kept.json()["fee"]) == ("flat", 800)


async def test_carriers_are_listed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/carriers")
    assert [c["code"] for c in response.json()] == [
        "SF",
        "ZTO",
        "YTO",
        "STO",
        "YUNDA",
        "JD",
        "EMS",
        "JT",
        "OTHER",
    ]
    assert all(c["name"] for c in response.json())


@pytest.mark.parametrize(
    ("carrier", "typed", "stored"),
    [
        ("SF", "sf 1234 5678 9012", "SF123456789012"),
        ("SF", "SF1234567890123", "SF1234567890123"),
        ("ZTO", "773012345678901", "773012345678901"),
        ("YTO", "yt1234567890123", "YT1234567890123"),
        ("STO", "772012345678", "772012345678"),
        ("YUNDA", "4312345678901", "4312345678901"),
        ("JD", "JDVA12345678901", "JDVA12345678901"),
        ("EMS", "ea123456789cn", "EA123456789CN"),
        ("EMS", "1123456789012", "1123456789012"),
        ("JT", "JT1234567890123", "JT1234567890123"),
        ("OTHER", "abc-123456", "ABC-123456"),
    ],
)
def test_tracking_numbers_in_each_format(carrier: str, typed: str, stored: str) -> None:
    assert shipping.validate_tracking(carrier, typed) == stored


@pytest.mark.parametrize(
    ("carrier", "typed", "code"),
    [
        ("SF", "", "invalid_tracking_number"),
        ("SF", "SF12345678901234", "invalid_tracking_number"),
        ("ZTO", "77301234567890123", "invalid_tracking_number"),
        ("JD", "JD12345", "invalid_tracking_number"),
        ("sf", "SF123456789012", "invalid_carrier"),
        ("", "SF123456789012", "invalid_carrier"),
    ],
)
def test_wrong_tracking_numbers(carrier: str, typed: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        shipping.validate_tracking(carrier, typed)
    assert refused.value.code == code


def test_addresses_are_told_what_the_shops_regions_mean_for_them() -> None:
    terms = shipping_fees.Terms(
        "flat", 800, None, extra=(("440000", 1500),), no_delivery=("650000",)
    )

    def address(public_id: str, province: str, code: str | None) -> Address:
        return Address(public_id=public_id, province=province, province_code=code)

    book = [
        address("gd", "广东省", "440000"),
        address("xj", "新疆维吾尔自治区", None),  # an older address: found by its name
        address("bj", "北京市", "110000"),
    ]
    with using("en"):
        assert shipping_fees.address_notes(terms, book) == {
            "gd": "Shipping here costs ¥15.00 more.",
            "xj": "This shop does not deliver here.",
        }
