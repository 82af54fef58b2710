"""The rules the contract test found broken, one by one: the schema states what the service
enforces, errors say whose fault they are, 405 names every method."""

import httpx
from fastapi import FastAPI

from pocketshop.app import create_app
from pocketshop.config import Settings
from tests.commerce import ADDRESS, make_buyer, make_merchant, make_product
from tests.support import api_error


async def test_a_body_that_is_not_utf8_json_is_the_clients_fault(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    buyer = await make_buyer(app)
    json_headers = buyer.auth | {"Content-Type": "application/json"}
    unreadable = await client.post("/api/v1/me/addresses", content=b"{\x80}", headers=json_headers)
    error = api_error(unreadable, 400, "bad_request")
    # Not "系统出错了，请稍后重试" (something went wrong on our side): it is the sender's.
    assert error["message"] == "无法读取请求内容：请发送 UTF-8 编码的 JSON。"
    not_json = await client.post("/api/v1/me/addresses", content=b"{not", headers=json_headers)
    api_error(not_json, 422, "invalid")


async def test_405_allows_every_method_of_the_address(client: httpx.AsyncClient) -> None:
    for path, methods in [
        ("/api/v1/orders", "GET, POST"),
        ("/api/v1/me/addresses/abc", "DELETE, PUT"),
        ("/api/v1/me/shop/groups", "GET, POST"),
        ("/api/v1/me/shop/groups/order", "PUT"),  # not /groups/{group_id}'s DELETE, PUT
    ]:
        response = await client.options(path)
        api_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == methods
    page = await client.request("PATCH", "/login")
    assert (page.status_code, page.headers["allow"]) == (405, "GET, POST")


async def test_types_are_strict_as_the_schema_says(app: FastAPI, client: httpx.AsyncClient) -> None:
    buyer = await make_buyer(app)
    for is_default in (0, 1, "true", "0"):
        refused = await client.post(
            "/api/v1/me/addresses", json=ADDRESS | {"is_default": is_default}, headers=buyer.auth
        )
        api_error(refused, 422, "invalid")
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop)
    cart = f"/api/v1/shops/{merchant.shop.slug}/cart/items/{made.skus[0].public_id}"
    # 2.0 is an integer to JSON Schema: taken as 2. 2.5 and "2" are not.
    taken = await client.put(cart, json={"quantity": 2.0}, headers=buyer.auth)
    assert taken.status_code == 200, taken.text
    assert taken.json()["lines"][0]["quantity"] == 2
    for quantity in (2.5, "2", True):
        api_error(
            await client.put(cart, json={"quantity": quantity}, headers=buyer.auth), 422, "invalid"
        )


async def test_the_schema_states_the_services_rules(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["FlatFeeIn"]["properties"]["fee"]["minimum"] == 1  # a flat fee of 0 is no fee
    assert schemas["FlatFeeIn"]["required"] == ["kind", "fee"]
    assert schemas["FreeAboveIn"]["required"] == ["kind", "fee", "free_above"]
    address = schemas["AddressIn"]["properties"]
    assert address["phone"]["format"] == "mobile-phone"
    assert (address["recipient"]["format"], address["recipient"]["maxLength"]) == ("text-30", 120)
    assert schemas["GroupIn"]["properties"]["name"]["format"] == "text-20"
    assert schemas["AddressBookIn"]["properties"]["is_default"]["type"] == "boolean"
    created = spec["paths"]["/api/v1/orders"]["post"]["responses"]["201"]["links"]
    assert created["PayOrder"]["parameters"] == {"number": "$response.body#/number"}
    paid = spec["paths"]["/api/v1/orders/{number}/payments"]["post"]["responses"]["201"]["links"]
    assert paid["RefundOrder"]["parameters"] == {"number": "$response.body#/payment/order"}
    assert "400" in spec["paths"]["/api/v1/me/addresses"]["post"]["responses"]


async def test_a_nul_in_a_search_or_an_id_is_no_server_error(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """PostgreSQL refuses NUL in text: a search is cleaned as stored text is first, an
    address with one is not found, a body's strings lose it."""
    merchant = await make_merchant(app)
    for url in (
        "/api/v1/me/shop/orders?q=%00",
        "/api/v1/me/shop/orders?q=a%00b",
        "/api/v1/me/shop/orders.csv?q=a%00b",
        "/api/v1/me/shop/products?q=a%00b",
        f"/api/v1/shops/{merchant.shop.slug}/products?q=a%00b",
    ):
        response = await client.get(url, headers=merchant.auth)
        assert response.status_code == 200, (url, response.text)
    for url in ("/api/v1/shops/a%00b", "/api/v1/me/shop/products/a%00b"):
        api_error(await client.get(url, headers=merchant.auth), 404, "not_found")
    buyer = await make_buyer(app)
    body = {"shop": merchant.shop.slug, "lines": [{"sku_id": "a\u0000", "quantity": 1}]}
    ordered = await client.post(
        "/api/v1/orders", json=body | {"address": ADDRESS}, headers=buyer.auth
    )
    assert ordered.status_code in (404, 422), ordered.text


async def test_the_schema_states_this_deployments_payments_and_smallest_withdrawal(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"withdrawal_min_fen": 500}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        served = (await client.get("/openapi.json")).json()
        merchant = await make_merchant(app, "起提小店")
        too_little = await client.post(
            "/api/v1/me/shop/withdrawals", json={"amount": 499}, headers=merchant.auth
        )
    await app.state.runtime.close()
    models = served["components"]["schemas"]
    assert models["WithdrawalIn"]["properties"]["amount"]["minimum"] == 500
    api_error(too_little, 422, "invalid_amount")
    # The sandbox alone (the test settings): its hosted page, nothing else.
    (body,) = models["PayIn"]["oneOf"]
    assert body["properties"]["provider"] == {"type": "string", "const": "sandbox"}
    assert body["properties"]["channel"]["enum"] == ["page"]


async def test_with_no_provider_the_schema_has_no_empty_choice(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"payment_providers": []}))
    try:
        schema = app.openapi()
    finally:
        await app.state.runtime.close()
    pay_in = schema["components"]["schemas"]["PayIn"]
    assert "oneOf" not in pay_in  # JSON Schema wants at least one: the model's own stays
    assert pay_in["required"] == ["provider", "channel"]
