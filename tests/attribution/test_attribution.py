"""Attribution: orders placed through a store's, a staff member's, a campaign's or a
customer's link are attributed to it; bad links attribute nothing; the first binding wins for
its period; nobody is their own source; a guest's binding survives logging in."""

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.attribution.models import Binding
from pocketshop.db import Database
from pocketshop.orders.models import Order
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
from tests.support import api_error, other_client, page_login


async def make_store(client: httpx.AsyncClient, merchant: Merchant, name: str = "西湖店") -> Any:
    made = await client.post("/api/v1/me/shop/stores", json={"name": name}, headers=merchant.auth)
    assert made.status_code == 201, made.text
    return made.json()


async def make_staff(
    client: httpx.AsyncClient, merchant: Merchant, store: Any, name: str = "小王", phone: str = ""
) -> Any:
    made = await client.post(
        f"/api/v1/me/shop/stores/{store['id']}/staff",
        json={"name": name, "phone": phone},
        headers=merchant.auth,
    )
    assert made.status_code == 201, made.text
    return made.json()


def path_of(link: str) -> str:
    return link.removeprefix("http://testserver")


async def follow(app: FastAPI, link: str, buyer: Buyer | None) -> httpx.Response:
    """A phone opening the link: logged in as `buyer`, or a guest (the response keeps the
    cookies it set)."""
    async with other_client(app) as phone:
        if buyer is not None:
            await web_login(app, phone, buyer.user)
        return await phone.get(path_of(link))


async def binding(app: FastAPI, merchant: Merchant, buyer: Buyer) -> Binding | None:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        found: Binding | None = await session.scalar(
            select(Binding).where(
                Binding.shop_id == merchant.shop.id, Binding.buyer_id == buyer.user.id
            )
        )
        return found


async def attributed_order(
    app: FastAPI, client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer
) -> Order:
    product = await make_product(app, merchant.shop)
    number = await ordered(client, buyer, merchant.shop, [(product.skus[0], 1)])
    return await order_row(app, number)


async def test_an_order_through_a_staff_qr_code_counts_for_them_and_their_store(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    store = await make_store(client, merchant)
    staff = await make_staff(client, merchant, store)

    landed = await follow(app, staff["link"], buyer)
    assert landed.status_code == 303
    assert landed.headers["location"] == f"/s/{merchant.shop.slug}"

    order = await attributed_order(app, client, merchant, buyer)
    assert order.referral_kind == "staff"
    assert order.referral_staff_id is not None
    assert order.referral_store_id is not None
    await pay(app, order.number)

    stores = (await client.get("/api/v1/me/shop/stores", headers=merchant.auth)).json()
    assert stores[0]["sales"] == {"orders": 1, "total": order.total}
    members = await client.get(f"/api/v1/me/shop/stores/{store['id']}/staff", headers=merchant.auth)
    assert members.json()[0]["sales"] == {"orders": 1, "total": order.total}
    # Another buyer, who came direct, is nobody's.
    direct = await attributed_order(app, client, merchant, await make_buyer(app))
    assert direct.referral_kind is None
    assert direct.referral_store_id is None


def tampered(link: str) -> str:
    token = link.rsplit("/", 1)[1]
    payload, _dot, rest = token.partition(".")
    # The payload says another store (its first character changed), the signature is kept.
    changed = ("B" if payload[0] != "B" else "C") + payload[1:]
    return link.rsplit("/", 1)[0] + "/" + changed + "." + rest


@pytest.mark.parametrize("how", ["tampered", "expired", "other shop"])
async def test_a_link_that_is_not_good_attributes_nothing(
    app: FastAPI, client: httpx.AsyncClient, how: str
) -> None:
    merchant = await make_merchant(app)
    link = (await make_store(client, merchant))["link"]
    if how == "tampered":
        link = tampered(link)
    elif how == "expired":
        clock.advance(timedelta(days=app.state.settings.referral_link_days, hours=1))
    else:
        other = await make_merchant(app, "乙店")
        link = link.replace(f"/s/{merchant.shop.slug}/", f"/s/{other.shop.slug}/")
    buyer = await make_buyer(app)
    landed = await follow(app, link, buyer)
    # Still a way into the shop the link names.
    assert landed.status_code == 303
    assert landed.headers["location"].startswith("/s/")
    assert await binding(app, merchant, buyer) is None
    assert (await attributed_order(app, client, merchant, buyer)).referral_kind is None


async def test_the_first_binding_holds_for_its_period_then_the_next_link_binds(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    first = await make_store(client, merchant, "一号店")
    second = await make_store(client, merchant, "二号店")
    await follow(app, first["link"], buyer)
    clock.advance(timedelta(days=app.state.settings.referral_days - 1))
    await follow(app, second["link"], buyer)
    order = await attributed_order(app, client, merchant, buyer)
    held = await binding(app, merchant, buyer)
    assert held is not None
    assert order.referral_store_id == held.store_id
    await pay(app, order.number)
    stores = (await client.get("/api/v1/me/shop/stores", headers=merchant.auth)).json()
    by_name = {store["name"]: store["sales"]["orders"] for store in stores}
    assert by_name == {"一号店": 1, "二号店": 0}

    # Past the period, the binding has lapsed: the buyer came direct, until a link binds anew.
    clock.advance(timedelta(days=2))
    buyer = Buyer(buyer.user, await api_token(app.state.db, app.state.settings, buyer.user))
    assert (await attributed_order(app, client, merchant, buyer)).referral_kind is None
    await follow(app, second["link"], buyer)
    later = await attributed_order(app, client, merchant, buyer)
    assert later.referral_kind == "store"
    assert later.referral_store_id != order.referral_store_id


async def test_a_guests_binding_survives_logging_in_and_the_cart(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    link = (
        await client.post(
            "/api/v1/me/shop/campaigns", json={"label": "市集海报"}, headers=merchant.auth
        )
    ).json()["link"]
    async with other_client(app) as phone:
        landed = await phone.get(path_of(link))
        assert landed.status_code == 303
        assert "ps_src" in phone.cookies
        # Days later, still a guest, they log in: the binding dates from the first visit.
        clock.advance(timedelta(days=3))
        logged_in = await page_login(phone, app, buyer.user.phone, f"/s/{merchant.shop.slug}")
        assert logged_in.status_code == 303, logged_in.text
        assert "ps_src" not in phone.cookies
    held = await binding(app, merchant, buyer)
    assert held is not None
    assert held.kind == "campaign"
    assert held.expires_at - held.bound_at == timedelta(days=app.state.settings.referral_days)
    assert held.bound_at < clock.now() - timedelta(days=2)
    assert (await attributed_order(app, client, merchant, buyer)).referral_kind == "campaign"
    campaigns = (await client.get("/api/v1/me/shop/campaigns", headers=merchant.auth)).json()
    assert campaigns[0]["visits"] == 1


async def test_a_guest_keeps_the_first_link_they_followed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    first = await make_store(client, merchant, "一号店")
    second = await make_store(client, merchant, "二号店")
    async with other_client(app) as phone:
        await phone.get(path_of(first["link"]))
        await phone.get(path_of(second["link"]))
        await page_login(phone, app, buyer.user.phone, f"/s/{merchant.shop.slug}")
    order = await attributed_order(app, client, merchant, buyer)
    await pay(app, order.number)
    stores = (await client.get("/api/v1/me/shop/stores", headers=merchant.auth)).json()
    assert {store["name"]: store["sales"]["orders"] for store in stores} == {
        "一号店": 1,
        "二号店": 0,
    }


async def test_a_customers_shared_link_binds_their_friends_not_themselves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    sharer, friend = await make_buyer(app), await make_buyer(app)
    product = await make_product(app, merchant.shop)
    async with other_client(app) as phone:
        await web_login(app, phone, sharer.user)
        page = await phone.get(f"/s/{merchant.shop.slug}/p/{product.id}")
    found = re.search(
        r'value="(http://testserver/s/[^"]+/go/[^"]+)"[^>]*data-share-link', page.text
    )
    assert found, "a signed-in customer's share sheet offers their own link"
    link = found.group(1)

    landed = await follow(app, link, sharer)
    assert landed.headers["location"] == f"/s/{merchant.shop.slug}/p/{product.id}"
    assert await binding(app, merchant, sharer) is None  # nobody is their own source

    await follow(app, link, friend)
    number = await ordered(client, friend, merchant.shop, [(product.skus[0], 1)])
    order = await order_row(app, number)
    assert (order.referral_kind, order.referral_sharer_id) == ("share", sharer.user.id)

    # A guest's page offers the plain link.
    guest_page = await client.get(f"/s/{merchant.shop.slug}/p/{product.id}")
    assert "/go/" not in guest_page.text


async def test_the_owner_and_a_staff_member_are_not_their_own_source(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    staff_buyer = await make_buyer(app)
    store = await make_store(client, merchant)
    staff = await make_staff(client, merchant, store, phone=staff_buyer.user.phone)
    assert staff["phone"] == staff_buyer.user.phone
    await follow(app, staff["link"], staff_buyer)
    assert await binding(app, merchant, staff_buyer) is None
    owner = Buyer(merchant.user, merchant.auth)
    await follow(app, store["link"], owner)
    assert await binding(app, merchant, owner) is None


async def test_an_archived_source_binds_no_one_and_keeps_its_sales(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, early, late = await make_merchant(app), await make_buyer(app), await make_buyer(app)
    store = await make_store(client, merchant)
    await follow(app, store["link"], early)
    order = await attributed_order(app, client, merchant, early)
    await pay(app, order.number)
    archived = await client.patch(
        f"/api/v1/me/shop/stores/{store['id']}", json={"active": False}, headers=merchant.auth
    )
    assert archived.status_code == 200, archived.text
    assert archived.json()["active"] is False
    assert archived.json()["sales"]["orders"] == 1
    await follow(app, store["link"], late)
    assert await binding(app, merchant, late) is None


async def test_a_campaign_link_to_a_product_counts_visits_and_leads_there(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop)
    made = await client.post(
        "/api/v1/me/shop/campaigns",
        json={"label": "群聊A", "product_id": product.id},
        headers=merchant.auth,
    )
    assert made.status_code == 201, made.text
    for _visit in range(3):
        landed = await follow(app, made.json()["link"], None)
        assert landed.headers["location"] == f"/s/{merchant.shop.slug}/p/{product.id}"
    listed = (await client.get("/api/v1/me/shop/campaigns", headers=merchant.auth)).json()
    assert (listed[0]["visits"], listed[0]["product_id"]) == (3, product.id)


async def test_bad_input_is_refused_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    api_error(
        await client.post(
            "/api/v1/me/shop/stores", json={"name": "店" * 41}, headers=merchant.auth
        ),
        422,
        "invalid_name",
    )
    store = await make_store(client, merchant)
    api_error(
        await client.post(
            f"/api/v1/me/shop/stores/{store['id']}/staff",
            json={"name": "小王", "phone": "12345"},
            headers=merchant.auth,
        ),
        422,
        "invalid_phone",
    )
    api_error(
        await client.post(
            "/api/v1/me/shop/campaigns",
            json={"label": "海报", "product_id": "0" * 32},
            headers=merchant.auth,
        ),
        404,
        "product_not_found",
    )
    assert (await client.get("/api/v1/me/shop/campaigns", headers=merchant.auth)).json() == []
    members = await client.get(f"/api/v1/me/shop/stores/{store['id']}/staff", headers=merchant.auth)
    assert members.json() == []


async def test_another_shops_stores_staff_and_links_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, other = await make_merchant(app), await make_merchant(app, "乙店")
    store = await make_store(client, owner)
    staff = await make_staff(client, owner, store)
    campaign = (
        await client.post(
            "/api/v1/me/shop/campaigns", json={"label": "甲店自己的链接"}, headers=owner.auth
        )
    ).json()
    refused = [
        ("GET", f"/api/v1/me/shop/stores/{store['id']}/staff", None, "store_not_found"),
        ("PATCH", f"/api/v1/me/shop/stores/{store['id']}", {"active": False}, "store_not_found"),
        ("POST", f"/api/v1/me/shop/stores/{store['id']}/staff", {"name": "x"}, "store_not_found"),
        ("PATCH", f"/api/v1/me/shop/staff/{staff['id']}", {"active": False}, "staff_not_found"),
        (
            "PATCH",
            f"/api/v1/me/shop/campaigns/{campaign['id']}",
            {"label": "x"},
            "campaign_not_found",
        ),
    ]
    for method, path, body, code in refused:
        answer = await client.request(method, path, json=body, headers=other.auth)
        api_error(answer, 404, code)
    assert (await client.get("/api/v1/me/shop/stores", headers=other.auth)).json() == []
    assert (await client.get("/api/v1/me/shop/campaigns", headers=other.auth)).json() == []
    async with other_client(app) as browser:
        await web_login(app, browser, other.user)
        assert (await browser.get(f"/console/stores/{store['id']}")).status_code == 404
        page = await browser.get("/console/promote")
        assert page.status_code == 200
        assert store["name"] not in page.text
        assert "甲店自己的链接" not in page.text
    # Nothing changed.
    listed = (await client.get("/api/v1/me/shop/stores", headers=owner.auth)).json()
    assert listed[0]["active"] is True
