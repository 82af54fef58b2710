"""The console's Promote pages: stores, staff and campaign links made from a phone, their QR
codes, refusals shown at their field without a re-post on refresh, and the order page saying
where an order came from."""

import httpx
from fastapi import FastAPI

from tests.attribution.test_attribution import attributed_order, follow, make_staff, make_store
from tests.commerce import make_buyer, make_merchant, web_login
from tests.support import csrf_from, other_client, page_alert, tr


async def test_a_merchant_adds_a_store_and_its_staff_from_the_console(app: FastAPI) -> None:
    merchant = await make_merchant(app)
    async with other_client(app) as phone:
        await web_login(app, phone, merchant.user)
        page = await phone.get("/console/promote")
        assert page.status_code == 200
        added = await phone.post(
            "/console/stores",
            data={"name": "西湖店", "address": "杭州市西湖区", "csrf_token": csrf_from(page.text)},
        )
        assert added.status_code == 303
        page = await phone.get(added.headers["location"])
        assert tr("Store added. Print its QR code for the counter.") in page.text
        store_path = page.text.split('href="/console/stores/', 1)[1].split('"', 1)[0]
        store_page = await phone.get(f"/console/stores/{store_path}")
        assert store_page.status_code == 200
        assert 'class="source-qr"' in store_page.text
        assert "data:image/svg+xml" in store_page.text
        staffed = await phone.post(
            f"/console/stores/{store_path}/staff",
            data={"name": "小王", "phone": "13800138000", "csrf_token": csrf_from(page.text)},
        )
        assert staffed.status_code == 303
        store_page = await phone.get(staffed.headers["location"])
        assert "小王" in store_page.text
        assert "/go/" in store_page.text  # the staff member's own link and QR code


async def test_a_refused_form_shows_at_its_field_and_refresh_does_not_post_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    async with other_client(app) as phone:
        await web_login(app, phone, merchant.user)
        page = await phone.get("/console/promote")
        refused = await phone.post(
            "/console/stores", data={"name": "店" * 41, "csrf_token": csrf_from(page.text)}
        )
        assert refused.status_code == 303  # back to the form's page: refresh re-posts nothing
        shown = await phone.get(refused.headers["location"])
        code, message = page_alert(shown.text)
        assert (code, message) == ("invalid_name", tr("Enter 1 to %(max)s characters.", max=40))
        assert 'value="' + "店" * 41 + '"' in shown.text  # what was typed, kept
        again = await phone.get(refused.headers["location"])
        assert 'role="alert"' not in again.text  # shown once
    stores = await client.get("/api/v1/me/shop/stores", headers=merchant.auth)
    assert stores.json() == []


async def test_the_order_says_where_it_came_from(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    store = await make_store(client, merchant)
    staff = await make_staff(client, merchant, store)
    await follow(app, staff["link"], buyer)
    order = await attributed_order(app, client, merchant, buyer)
    answer = await client.get(f"/api/v1/me/shop/orders/{order.number}", headers=merchant.auth)
    assert answer.json()["referral"] == "staff"
    async with other_client(app) as phone:
        await web_login(app, phone, merchant.user)
        page = await phone.get(f"/console/orders/{order.number}")
    expected = (
        tr("Store %(name)s", name="西湖店") + " · " + tr("staff member %(name)s", name="小王")
    )
    assert expected in page.text
