"""Opening a shop end to end: once through the HTML forms, once through the JSON API."""

import io

import httpx
import zxingcpp
from fastapi import FastAPI
from PIL import Image

from pocketshop.demo import demo_card_number, demo_id_number, demo_logo
from tests.conftest import BASE_URL
from tests.support import api_login, csrf_from, page_login


def decode_qr(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return results[0].text


async def test_open_shop_through_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    start = await client.get("/onboarding")
    assert start.status_code == 200
    assert "Step 1" in start.text or "第 1 步" in start.text

    logged_in = await page_login(client, app, "13800138001", next_url="/onboarding")
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/onboarding"
    assert "ps_session" in client.cookies

    step2 = await client.get("/onboarding")
    assert 'action="/onboarding/identity"' in step2.text
    done2 = await client.post(
        "/onboarding/identity",
        data={
            "real_name": "王小明",
            "id_number": demo_id_number(),
            "csrf_token": csrf_from(step2.text),
        },
    )
    assert done2.status_code == 303

    step3 = await client.get("/onboarding")
    assert 'action="/onboarding/bank-card"' in step3.text
    done3 = await client.post(
        "/onboarding/bank-card",
        data={
            "holder_name": "王小明",
            "card_number": demo_card_number(),
            "bank": "ICBC",
            "csrf_token": csrf_from(step3.text),
        },
    )
    assert done3.status_code == 303

    step4 = await client.get("/onboarding")
    assert 'action="/onboarding/shop"' in step4.text
    done4 = await client.post(
        "/onboarding/shop",
        data={
            "name": "小明的手作铺",
            "description": "手工皮具",
            "csrf_token": csrf_from(step4.text),
        },
        files={"logo": ("logo.png", demo_logo(), "image/png")},
    )
    assert done4.status_code == 303
    assert done4.headers["location"].startswith("/console")

    console = await client.get("/console")
    assert console.status_code == 200
    assert "小明的手作铺" in console.text
    shop_url = f"{BASE_URL}/s/xiao-ming-de-shou-zuo-pu"
    assert shop_url in console.text

    public = await client.get("/s/xiao-ming-de-shou-zuo-pu")
    assert public.status_code == 200
    assert "小明的手作铺" in public.text

    qr = await client.get("/s/xiao-ming-de-shou-zuo-pu/qr.png")
    assert qr.headers["content-type"] == "image/png"
    assert decode_qr(qr.content) == shop_url
    svg = await client.get("/s/xiao-ming-de-shou-zuo-pu/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg")


async def test_open_shop_through_api(client: httpx.AsyncClient, app: FastAPI) -> None:
    auth = await api_login(client, app, "+86 139 0013 9000")

    state = await client.get("/api/v1/onboarding", headers=auth)
    assert state.json()["step"] == "identity"

    identity = await client.post(
        "/api/v1/onboarding/identity",
        json={"real_name": "李雷", "id_number": demo_id_number()},
        headers=auth,
    )
    assert identity.status_code == 200, identity.text
    assert identity.json()["step"] == "bank_card"
    assert identity.json()["identity"]["id_number_masked"].count("*") == 16

    card = await client.post(
        "/api/v1/onboarding/bank-card",
        json={"holder_name": "李雷", "card_number": demo_card_number(), "bank": "CMB"},
        headers=auth,
    )
    assert card.status_code == 200, card.text
    assert card.json()["bank_card"]["last4"] == demo_card_number()[-4:]
    assert demo_card_number() not in card.text

    shop = await client.post(
        "/api/v1/onboarding/shop",
        data={"name": "Lei's Tea Shop", "description": "Oolong and more"},
        files={"logo": ("logo.png", demo_logo(), "image/png")},
        headers=auth,
    )
    assert shop.status_code == 201, shop.text
    body = shop.json()
    assert body["slug"] == "lei-s-tea-shop"
    assert body["url"] == f"{BASE_URL}/s/lei-s-tea-shop"

    logo = await client.get(body["logo_url"])
    assert logo.status_code == 200
    assert Image.open(io.BytesIO(logo.content)).format == "PNG"

    public = await client.get("/s/lei-s-tea-shop")
    assert public.status_code == 200
    assert "Lei&#39;s Tea Shop" in public.text
    # A chat card needs absolute URLs.
    assert f'<meta property="og:image" content="{BASE_URL}{body["logo_url"]}">' in public.text
    assert f'<meta property="og:url" content="{body["url"]}">' in public.text

    qr = await client.get(body["qr_png_url"].removeprefix(BASE_URL))
    assert decode_qr(qr.content) == body["url"]
    assert (await client.get("/api/v1/onboarding", headers=auth)).json()["step"] == "done"
