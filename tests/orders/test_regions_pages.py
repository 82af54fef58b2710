"""The region picker on the address pages (without JavaScript: "Choose" posts the form back
with the next list filled) and delivery by region on the console's shipping page and checkout."""

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop.db import Database
from pocketshop.orders import addresses, shipping_fees
from pocketshop.orders.models import Order
from pocketshop.shops.models import Shop
from tests.commerce import ADDRESS, make_buyer, make_merchant, make_product, row_counts, web_login
from tests.orders.test_store_pages import add, checkout_form, setup_shop
from tests.support import csrf_for, page_alert, tr

PERSON = {"recipient": "李雷", "phone": "13900139000", "detail": "科技园 1 号"}


def selected(html: str, name: str) -> str | None:
    select = re.search(f'<select name="{name}".*?</select>', html, re.S)
    assert select, name
    found = re.search(r'<option value="(\d+)" selected>', select.group(0))
    return found.group(1) if found else None


def options(html: str, name: str) -> list[str]:
    select = re.search(f'<select name="{name}".*?</select>', html, re.S)
    assert select, name
    return re.findall(r'<option value="(\d+)"', select.group(0))


async def test_the_picker_without_javascript(app: FastAPI, client: httpx.AsyncClient) -> None:
    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    token = await csrf_for(client, "/me/addresses")
    page = await client.get("/me/addresses")
    assert "440000" in options(page.text, "province_code")
    assert options(page.text, "city_code") == []
    assert 'name="pick"' in page.text
    assert "/static/regions.js" in page.text

    # Province chosen: "Choose" shows its cities, keeps what was typed, saves nothing.
    before = await row_counts(app)
    step = await client.post(
        "/me/addresses", data=PERSON | {"csrf_token": token, "pick": "1", "province_code": "440000"}
    )
    assert step.status_code == 200
    assert selected(step.text, "province_code") == "440000"
    assert "440300" in options(step.text, "city_code")
    assert 'value="科技园 1 号"' in step.text
    step = await client.post(
        "/me/addresses",
        data=PERSON
        | {"csrf_token": token, "pick": "1", "province_code": "440000", "city_code": "440300"},
    )
    assert "440305" in options(step.text, "district_code")
    # A city left over from another province is dropped, not kept.
    step = await client.post(
        "/me/addresses",
        data=PERSON
        | {"csrf_token": token, "pick": "1", "province_code": "110000", "city_code": "440300"},
    )
    assert selected(step.text, "city_code") is None
    assert options(step.text, "city_code") == ["110100"]
    assert await row_counts(app) == before

    # Saving without a district: the district's select is marked, nothing saved.
    codes = {"province_code": "440000", "city_code": "440300"}
    refused = await client.post("/me/addresses", data=PERSON | codes | {"csrf_token": token})
    assert refused.status_code == 422
    assert page_alert(refused.text)[0] == "invalid_region"
    assert re.search(r'name="district_code"[^>]*aria-invalid="true"', refused.text)
    assert await row_counts(app) == before

    saved = await client.post(
        "/me/addresses",
        data=PERSON | codes | {"csrf_token": token, "district_code": "440305"},
    )
    assert saved.status_code == 303, saved.text
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        (address,) = await addresses.list_for(session, buyer.user)
    assert (address.province, address.city, address.district) == ("广东省", "深圳市", "南山区")
    assert address.district_code == "440305"
    edit = await client.get(f"/me/addresses?edit={address.public_id}")
    assert selected(edit.text, "district_code") == "440305"


async def test_an_older_address_is_matched_by_name(app: FastAPI, client: httpx.AsyncClient) -> None:
    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    token = await csrf_for(client, "/me/addresses")
    await client.post("/me/addresses", data=ADDRESS | {"csrf_token": token})  # names only
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        (address,) = await addresses.list_for(session, buyer.user)
    assert address.province_code is None
    edit = await client.get(f"/me/addresses?edit={address.public_id}")
    assert selected(edit.text, "province_code") == "330000"
    assert selected(edit.text, "city_code") == "330100"
    assert selected(edit.text, "district_code") == "330106"


async def test_delivery_by_region_in_the_console_and_at_checkout(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, made = await setup_shop(app)
    db: Database = app.state.db

    async with db.transaction() as session:
        owned = await session.scalar(select(Shop).where(Shop.id == shop.id))
        assert owned is not None
        await shipping_fees.set_regions(
            session, owned, extra={"440000": 1500}, no_delivery=["650000"]
        )

    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    await add(client, shop, made, "红", "S")
    cart = (await client.get(f"/s/{shop.slug}/cart")).text
    assert shipping_shown(cart) == "¥8.00"  # no address yet: the fee without any extra
    assert (
        tr(
            "Some regions cost more to ship to, or are not delivered to: the fee for your address "
            "shows at checkout."
        )
        in cart
    )
    page = await client.get(f"/s/{shop.slug}/checkout")
    urumqi = PERSON | {"province_code": "650000", "city_code": "650100", "district_code": "650102"}
    before = await row_counts(app)
    refused = await client.post(
        f"/s/{shop.slug}/checkout", data=checkout_form(page.text, address="new", **urumqi)
    )
    assert refused.status_code == 409
    code, message = page_alert(refused.text)
    assert code == "no_delivery_to_region"
    assert "新疆" in message
    assert selected(refused.text, "district_code") == "650102"  # the form is kept
    assert await row_counts(app) == before

    # The picker's "Choose" on checkout only shows the page again.
    step = await client.post(
        f"/s/{shop.slug}/checkout",
        data=checkout_form(page.text, address="new", pick="1", province_code="440000"),
    )
    assert step.status_code == 200
    assert "440300" in options(step.text, "city_code")
    assert shipping_shown(step.text) == "¥23.00"  # Guangdong's extra counted
    assert await row_counts(app) == before

    nanshan = PERSON | {"province_code": "440000", "city_code": "440300", "district_code": "440305"}
    placed = await client.post(
        f"/s/{shop.slug}/checkout", data=checkout_form(page.text, address="new", **nanshan)
    )
    assert placed.status_code == 303, placed.text
    async with db.transaction(write=False) as session:
        order = await session.scalar(select(Order).where(Order.buyer_id == buyer.user.id))
    assert order is not None
    assert order.shipping_fee == 800 + 1500
    assert order.province == "广东省"

    # Next time, the saved address is chosen, its extra counted and said beside it.
    await add(client, shop, made, "红", "S")
    again = (await client.get(f"/s/{shop.slug}/checkout")).text
    assert shipping_shown(again) == "¥23.00"
    # Each choice carries its own figures for the page to show when it is chosen.
    assert re.search(r'value="new" data-shipping="¥8.00" data-total="¥[\d.,]+"', again)
    assert re.search(r'checked data-shipping="¥23.00" data-total="¥[\d.,]+"', again)
    assert tr("Shipping here costs %(amount)s more.", amount="¥15.00") in again


def shipping_shown(html: str) -> str:
    found = re.search(f"<dt>{tr('Shipping')}</dt><dd data-shipping-fee>([^<]*)</dd>", html)
    assert found, "no shipping fee shown"
    return found[1]


async def test_console_delivery_by_region(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    await make_product(app, merchant.shop)
    await web_login(app, client, merchant.user)
    token = await csrf_for(client, "/console/shipping")
    page = await client.get("/console/shipping")
    assert 'name="extra_650000"' in page.text
    assert 'name="none_540000"' in page.text
    saved = await client.post(
        "/console/shipping/regions",
        data={"csrf_token": token, "extra_440000": "10", "none_650000": "1", "none_540000": "1"},
    )
    assert saved.status_code == 303, saved.text
    page = await client.get(saved.headers["location"])
    assert 'name="extra_440000" value="10.00"' in page.text
    assert re.search(r'name="none_650000" value="1" checked', page.text)

    for data, code in (
        ({"extra_440000": "abc"}, "invalid_amount"),
        ({"extra_650000": "5", "none_650000": "1"}, "invalid_region"),
    ):
        refused = await client.post("/console/shipping/regions", data={"csrf_token": token} | data)
        assert refused.status_code == 422
        assert page_alert(refused.text)[0] == code
        assert 'aria-invalid="true"' in refused.text
    page = await client.get("/console/shipping")
    assert 'name="extra_440000" value="10.00"' in page.text  # unchanged

    # Another merchant's console edits only their own shop.
    other = await make_merchant(app, "别人的店")
    await web_login(app, client, other.user)
    token = await csrf_for(client, "/console/shipping")
    page = await client.get("/console/shipping")
    assert 'name="extra_440000" value=""' in page.text
    await client.post("/console/shipping/regions", data={"csrf_token": token, "extra_110000": "3"})
    await web_login(app, client, merchant.user)
    page = await client.get("/console/shipping")
    assert 'name="extra_110000" value=""' in page.text
    assert 'name="extra_440000" value="10.00"' in page.text

    # A buyer has no console.
    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    refused = await client.post(
        "/console/shipping/regions", data={"csrf_token": token, "none_650000": "1"}
    )
    assert refused.status_code in (303, 403, 404)
