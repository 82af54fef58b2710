import httpx
from fastapi import FastAPI

from tests.commerce import ADDRESS, make_buyer, make_merchant, make_product


async def test_order_smoke(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"], "尺码": ["S", "M"]})
    buyer = await make_buyer(app)
    response = await client.post(
        "/api/v1/orders",
        json={
            "shop": merchant.shop.slug,
            "lines": [
                {"sku_id": made.sku("红", "S").public_id, "quantity": 2},
                {"sku_id": made.sku("蓝", "M").public_id, "quantity": 1},
            ],
            "address": ADDRESS,
        },
        headers=buyer.auth,
    )
    assert response.status_code == 201, response.text
    print(response.json())
    listed = await client.get("/api/v1/me/shop/orders", headers=merchant.auth)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"][0]["total"] == 29700
