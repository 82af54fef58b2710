"""Payment requests on pages: the console makes one (link and QR code); the buyer opens the
link, logs in, gives an address and is sent to pay; refused input shows a message."""

import httpx
from fastapi import FastAPI

from tests.commerce import ADDRESS, make_buyer, make_merchant
from tests.orders.test_store_pages import log_in
from tests.support import csrf_from, other_client, page_alert, tr


async def test_made_on_the_console_and_paid_from_the_link(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await log_in(app, client, merchant.user)
    form = await client.get("/console/payment-requests")
    token = csrf_from(form.text)
    refused = await client.post(
        "/console/payment-requests",
        data={"amount": "abc", "note": "定金", "hours": "72", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert page_alert(refused.text)[1] == tr("Enter an amount in yuan, like 12.50.")
    assert 'value="定金"' in refused.text
    made = await client.post(
        "/console/payment-requests",
        data={"amount": "88.00", "note": "定金", "hours": "72", "csrf_token": token},
    )
    assert made.status_code == 303
    detail = await client.get(made.headers["location"])
    assert "data:image/svg+xml" in detail.text
    link = detail.text.split('class="request-link" value="', 1)[1].split('"', 1)[0]
    assert link.startswith(f"http://testserver/s/{merchant.shop.slug}/pay/")

    async with other_client(app) as browser:
        path = link.removeprefix("http://testserver")
        shown = await browser.get(path)
        assert "¥88.00" in shown.text
        assert tr("Log in to pay") in shown.text
        assert (await browser.get(f"{path}/qr.svg")).headers["content-type"] == "image/svg+xml"
        buyer = await make_buyer(app)
        await log_in(app, browser, buyer.user)
        page = await browser.get(path)
        blank = await browser.post(
            path, data={"address": "new", "csrf_token": csrf_from(page.text)}
        )
        assert blank.status_code == 422  # no address typed: nothing made
        # As the form's region picker sends it: the region by its codes, no names.
        typed = {name: ADDRESS[name] for name in ("recipient", "phone", "detail")} | {
            "province_code": "330000",
            "city_code": "330100",
            "district_code": "330106",
        }
        paying = await browser.post(
            path, data={"address": "new", **typed, "csrf_token": csrf_from(page.text)}
        )
        assert paying.status_code == 303, paying.text
        assert paying.headers["location"].startswith("/sandbox/pay/")
        # The address typed there joined the buyer's book.
        book = await client.get("/api/v1/me/addresses", headers=buyer.auth)
        assert [
            (entry["recipient"], entry["province"], entry["district"], entry["district_code"])
            for entry in book.json()
        ] == [(ADDRESS["recipient"], "浙江省", "西湖区", "330106")]


async def test_another_shop_cannot_open_or_cancel_it_on_the_console(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await client.post(
        "/api/v1/me/shop/payment-requests",
        json={"amount": 500, "note": "定金"},
        headers=merchant.auth,
    )
    path = f"/console/payment-requests/{made.json()['id']}"
    await log_in(app, client, merchant.user)
    own = (await client.get(path)).text  # its cancel asks first (console.js)
    message = tr("Cancel this payment request? Its link and QR code stop working.")
    assert f'data-confirm="{message}"' in own
    assert "/static/console.js" in own
    other = await make_merchant(app, "隔壁的店")
    await log_in(app, client, other.user)
    assert (await client.get(path)).status_code == 404
    token = csrf_from((await client.get("/console/payment-requests")).text)
    assert (await client.post(f"{path}/cancel", data={"csrf_token": token})).status_code == 404
    shown = await client.get(
        f"/api/v1/me/shop/payment-requests/{made.json()['id']}", headers=merchant.auth
    )
    assert shown.json()["status"] == "open"
