"""A shop's customers: made and kept up to date as orders are paid and refunded, with where
they came from; tags, notes, filters and exports; privileges that change one customer's (or a
tag's) checkout price and no one else's, until they expire."""

import io
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from openpyxl import load_workbook

from pocketshop import clock
from tests.attribution.test_attribution import follow, make_store
from tests.commerce import (
    Buyer,
    Merchant,
    api_token,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    ordered,
    pay,
    web_login,
)
from tests.support import api_error, other_client, tr

PRICE = 10_000


async def paid_order(
    app: FastAPI, client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer, product: Any
) -> str:
    number = await ordered(client, buyer, merchant.shop, [(product.skus[0], 1)])
    await pay(app, number)
    return number


async def customers(client: httpx.AsyncClient, merchant: Merchant, query: str = "") -> Any:
    answer = await client.get(f"/api/v1/me/shop/customers{query}", headers=merchant.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def week_off_for(
    client: httpx.AsyncClient, merchant: Merchant, product: Any, buyer: Buyer
) -> Any:
    """15% off the product for the buyer (a customer), for 7 days: the privileges made."""
    by_phone = {c["phone"]: c["id"] for c in await customers(client, merchant)}
    made = await client.post(
        "/api/v1/me/shop/privileges",
        json={
            "product_id": product.id,
            "kind": "discount",
            "value": 1500,
            "customer_id": by_phone[buyer.user.phone],
            "expires_at": (clock.now() + timedelta(days=7)).isoformat(),
        },
        headers=merchant.auth,
    )
    assert made.status_code == 201, made.text
    return made.json()


async def test_paid_orders_make_a_customer_and_refunds_come_off_what_they_spent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    product = await make_product(app, merchant.shop, price=PRICE)
    unpaid = await ordered(client, buyer, merchant.shop, [(product.skus[0], 1)])
    assert await customers(client, merchant) == []  # an unpaid order makes no customer
    store = await make_store(client, merchant)
    await follow(app, store["link"], buyer)
    first = await paid_order(app, client, merchant, buyer, product)
    await pay(app, unpaid)
    [customer] = await customers(client, merchant)
    total = (await order_row(app, first)).total
    assert (customer["orders"], customer["spent"]) == (2, 2 * total)
    assert customer["source"] == "store"
    assert customer["phone"] == buyer.user.phone

    refunded = await client.post(
        f"/api/v1/me/shop/orders/{first}/refunds",
        json={"amount": 1000, "reason": "少发一件"},
        headers=merchant.auth,
    )
    assert refunded.status_code == 201, refunded.text
    [customer] = await customers(client, merchant)
    assert customer["spent"] == 2 * total - 1000
    detail = await client.get(f"/api/v1/me/shop/customers/{customer['id']}", headers=merchant.auth)
    assert {order["number"] for order in detail.json()["orders_list"]} == {first, unpaid}


async def test_tags_notes_filters_and_exports(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop, price=PRICE)
    regular, once = await make_buyer(app), await make_buyer(app)
    for _time in range(2):
        await paid_order(app, client, merchant, regular, product)
    await paid_order(app, client, merchant, once, product)
    listed = {c["phone"]: c for c in await customers(client, merchant, "?sort=orders")}
    regular_id = listed[regular.user.phone]["id"]
    tagged = await client.post(
        f"/api/v1/me/shop/customers/{regular_id}/tags",
        json={"name": "老客户"},
        headers=merchant.auth,
    )
    assert tagged.status_code == 201, tagged.text
    again = await client.post(
        f"/api/v1/me/shop/customers/{regular_id}/tags",
        json={"name": "老客户"},
        headers=merchant.auth,
    )
    assert [tag["name"] for tag in again.json()["tags"]] == ["老客户"]  # once, however often
    tag_id = again.json()["tags"][0]["id"]
    noted = await client.put(
        f"/api/v1/me/shop/customers/{regular_id}/note",
        json={"note": "喜欢红色"},
        headers=merchant.auth,
    )
    assert noted.json()["note"] == "喜欢红色"

    assert [c["id"] for c in await customers(client, merchant, f"?tag={tag_id}")] == [regular_id]
    assert [c["id"] for c in await customers(client, merchant, "?min_orders=2")] == [regular_id]
    assert len(await customers(client, merchant, "?source=direct")) == 2
    assert await customers(client, merchant, "?source=store") == []
    assert [
        c["id"] for c in await customers(client, merchant, f"?q={regular.user.phone[-4:]}")
    ] == [regular_id]
    tags = (await client.get("/api/v1/me/shop/customer-tags", headers=merchant.auth)).json()
    assert tags == [{"id": tag_id, "name": "老客户", "customers": 1}]

    csv = await client.get(f"/api/v1/me/shop/customers.csv?tag={tag_id}", headers=merchant.auth)
    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert len(text.strip().splitlines()) == 2  # the header and the one tagged customer
    assert "喜欢红色" in text
    assert "老客户" in text
    xlsx = await client.get("/api/v1/me/shop/customers.xlsx", headers=merchant.auth)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert sheet.max_row == 3
    phones = {sheet.cell(row, 2).value for row in (2, 3)}
    assert phones == {regular.user.phone, once.user.phone}

    untagged = await client.delete(
        f"/api/v1/me/shop/customers/{regular_id}/tags/{tag_id}", headers=merchant.auth
    )
    assert untagged.json()["tags"] == []


async def test_a_privilege_changes_its_customers_price_alone_until_it_expires(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop, price=PRICE, stock=50)
    x, y = await make_buyer(app), await make_buyer(app)
    await paid_order(app, client, merchant, x, product)
    await paid_order(app, client, merchant, y, product)
    made = await week_off_for(client, merchant, product, x)
    assert made[0]["price"] == 8500

    for_x = await order_row(app, await ordered(client, x, merchant.shop, [(product.skus[0], 2)]))
    for_y = await order_row(app, await ordered(client, y, merchant.shop, [(product.skus[0], 2)]))
    assert for_x.items_total == 2 * 8500
    assert for_y.items_total == 2 * PRICE
    shown = await client.get(f"/api/v1/orders/{for_x.number}", headers=x.auth)
    line = shown.json()["lines"][0]
    assert (line["unit_price"], line["regular_price"]) == (8500, PRICE)
    assert (await client.get(f"/api/v1/orders/{for_y.number}", headers=y.auth)).json()["lines"][0][
        "regular_price"
    ] is None
    # X's cart prices it as checkout will.
    carted = await client.put(
        f"/api/v1/shops/{merchant.shop.slug}/cart/items/{product.skus[0].public_id}",
        json={"quantity": 1},
        headers=x.auth,
    )
    assert carted.status_code == 200, carted.text
    cart_line = carted.json()["lines"][0]
    assert (cart_line["unit_price"], cart_line["regular_price"]) == (8500, PRICE)

    clock.advance(timedelta(days=8))
    x = Buyer(x.user, await api_token(app.state.db, app.state.settings, x.user))
    after = await order_row(app, await ordered(client, x, merchant.shop, [(product.skus[0], 1)]))
    assert after.items_total == PRICE


async def test_a_tags_privilege_reaches_every_customer_with_the_tag(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop, price=PRICE, stock=50)
    vip, plain = await make_buyer(app), await make_buyer(app)
    await paid_order(app, client, merchant, vip, product)
    await paid_order(app, client, merchant, plain, product)
    by_phone = {c["phone"]: c["id"] for c in await customers(client, merchant)}
    tag = await client.post(
        f"/api/v1/me/shop/customers/{by_phone[vip.user.phone]}/tags",
        json={"name": "VIP"},
        headers=merchant.auth,
    )
    made = await client.post(
        "/api/v1/me/shop/privileges",
        json={
            "product_id": product.id,
            "kind": "fixed_price",
            "value": 6600,
            "tag_id": tag.json()["tags"][0]["id"],
        },
        headers=merchant.auth,
    )
    assert made.status_code == 201, made.text
    vip_order = await order_row(
        app, await ordered(client, vip, merchant.shop, [(product.skus[0], 1)])
    )
    plain_order = await order_row(
        app, await ordered(client, plain, merchant.shop, [(product.skus[0], 1)])
    )
    assert (vip_order.items_total, plain_order.items_total) == (6600, PRICE)
    removed = await client.delete(
        f"/api/v1/me/shop/privileges/{made.json()[0]['id']}", headers=merchant.auth
    )
    assert removed.status_code == 204
    again = await order_row(app, await ordered(client, vip, merchant.shop, [(product.skus[0], 1)]))
    assert again.items_total == PRICE


async def test_bad_privileges_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    product = await make_product(app, merchant.shop, price=PRICE)
    await paid_order(app, client, merchant, buyer, product)
    [customer] = await customers(client, merchant)
    base = {"product_id": product.id, "customer_id": customer["id"]}
    for body, status, code in [
        ({**base, "kind": "discount", "value": 10_000}, 422, "invalid_discount"),
        ({**base, "kind": "fixed_price", "value": 100, "tag_id": "0" * 32}, 404, "tag_not_found"),
        ({"product_id": product.id, "kind": "discount", "value": 100}, 422, "invalid_target"),
        (
            {**base, "kind": "discount", "value": 100, "product_id": "0" * 32},
            404,
            "product_not_found",
        ),
        (
            {**base, "kind": "discount", "value": 100, "expires_at": "2020-01-01T00:00:00Z"},
            422,
            "invalid_expiry",
        ),
    ]:
        api_error(
            await client.post("/api/v1/me/shop/privileges", json=body, headers=merchant.auth),
            status,
            code,
        )
    assert (await client.get("/api/v1/me/shop/privileges", headers=merchant.auth)).json() == []


async def test_another_shops_customers_tags_and_privileges_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, other, buyer = (
        await make_merchant(app),
        await make_merchant(app, "乙店"),
        await make_buyer(app),
    )
    product = await make_product(app, owner.shop, price=PRICE)
    await paid_order(app, client, owner, buyer, product)
    [customer] = await customers(client, owner)
    tagged = await client.post(
        f"/api/v1/me/shop/customers/{customer['id']}/tags", json={"name": "VIP"}, headers=owner.auth
    )
    tag_id = tagged.json()["tags"][0]["id"]
    privilege = await client.post(
        "/api/v1/me/shop/privileges",
        json={"product_id": product.id, "kind": "discount", "value": 500, "tag_id": tag_id},
        headers=owner.auth,
    )
    privilege_id = privilege.json()[0]["id"]
    cid = customer["id"]
    for method, path, body, code in [
        ("GET", f"/api/v1/me/shop/customers/{cid}", None, "customer_not_found"),
        ("PUT", f"/api/v1/me/shop/customers/{cid}/note", {"note": "x"}, "customer_not_found"),
        ("POST", f"/api/v1/me/shop/customers/{cid}/tags", {"name": "x"}, "customer_not_found"),
        ("DELETE", f"/api/v1/me/shop/customers/{cid}/tags/{tag_id}", None, "customer_not_found"),
        ("DELETE", f"/api/v1/me/shop/privileges/{privilege_id}", None, "privilege_not_found"),
        (
            "POST",
            "/api/v1/me/shop/privileges",
            {"product_id": product.id, "kind": "discount", "value": 500, "customer_id": cid},
            "customer_not_found",
        ),
    ]:
        api_error(await client.request(method, path, json=body, headers=other.auth), 404, code)
    assert await customers(client, other) == []
    assert (await client.get("/api/v1/me/shop/privileges", headers=other.auth)).json() == []
    assert (await client.get("/api/v1/me/shop/customer-tags", headers=other.auth)).json() == []
    async with other_client(app) as browser:
        await web_login(app, browser, other.user)
        assert (await browser.get(f"/console/customers/{cid}")).status_code == 404
        listed = await browser.get("/console/customers")
        assert listed.status_code == 200
        assert buyer.user.phone[-4:] not in listed.text
    # Nothing changed.
    assert (await customers(client, owner))[0]["tags"][0]["name"] == "VIP"
    assert len((await client.get("/api/v1/me/shop/privileges", headers=owner.auth)).json()) == 1


async def test_the_product_page_shows_a_customer_their_special_price(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Seen by X alone, as soon as it is made (their cached page is dropped), and no longer
    once it has run out (a page with a special price is not kept)."""
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop, price=PRICE, stock=50)
    x, y = await make_buyer(app), await make_buyer(app)
    await paid_order(app, client, merchant, x, product)
    await paid_order(app, client, merchant, y, product)
    page = f"/s/{merchant.shop.slug}/p/{product.id}"
    async with other_client(app) as as_x, other_client(app) as as_y:
        await web_login(app, as_x, x.user)
        await web_login(app, as_y, y.user)
        assert "¥85.00" not in (await as_x.get(page)).text  # cached for X now
        await week_off_for(client, merchant, product, x)
        for_x = (await as_x.get(page)).text
        assert "¥85.00" in for_x
        assert f'<s class="list-price" data-list-price>¥{PRICE // 100}.00</s>' in for_x
        assert tr("Your special price as this shop's customer") in for_x
        assert "¥85.00" not in (await as_y.get(page)).text
        assert "¥85.00" not in (await client.get(page)).text  # nor anyone signed out
        clock.advance(timedelta(days=8))
        assert "¥85.00" not in (await as_x.get(page)).text
