"""A refused form post carried across its redirect: shown by the form's page once, at its field;
a cookie that was tampered with, signed for something else or too old shows nothing."""

import time

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from pocketshop.web import flash
from tests.commerce import make_merchant
from tests.orders.test_store_pages import log_in
from tests.support import csrf_from, page_alert, tr


class Signed(TimestampSigner):
    """Signed with the right key and salt, an hour ago."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


async def refused_withdrawal(app: FastAPI, client: httpx.AsyncClient) -> httpx.Response:
    merchant = await make_merchant(app)
    await log_in(app, client, merchant.user)
    page = await client.get("/console/finance")
    return await client.post(
        "/console/finance/withdraw",
        data={"amount": "12.5x", "key": "k", "csrf_token": csrf_from(page.text)},
    )


async def test_the_refusal_is_shown_once_where_the_form_is(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    refused = await refused_withdrawal(app, client)
    assert refused.status_code == 303
    cookie = refused.headers["set-cookie"]
    assert cookie.startswith(f"{flash.COOKIE}=")
    assert "Path=/console/finance;" in cookie
    assert "HttpOnly" in cookie
    assert "Max-Age=300" in cookie

    assert 'role="alert"' not in (await client.get("/console")).text  # another page: not there
    shown = await client.get("/console/finance")
    assert shown.status_code == 200
    assert page_alert(shown.text) == ("invalid_amount", tr("Enter an amount in yuan, like 12.50."))
    assert 'value="12.5x"' in shown.text
    assert 'role="alert"' not in (await client.get("/console/finance")).text


@pytest.mark.parametrize("forgery", ["tampered", "other_salt", "old"])
async def test_a_forged_or_old_refusal_shows_nothing(
    app: FastAPI, client: httpx.AsyncClient, forgery: str
) -> None:
    refused = await refused_withdrawal(app, client)
    value = refused.cookies[flash.COOKIE]
    secret = app.state.settings.secrets.secret_key
    carried = {"code": "x", "message": "Call 400-FAKE for help", "field": None, "typed": {}}
    if forgery == "tampered":
        value = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    elif forgery == "other_salt":
        value = URLSafeTimedSerializer(secret, salt="pocketshop.cart").dumps(carried)
    else:
        value = URLSafeTimedSerializer(secret, salt="pocketshop.refused", signer=Signed).dumps(
            carried
        )
    client.cookies.delete(flash.COOKIE)
    client.cookies.set(flash.COOKIE, value, domain="testserver", path="/console/finance")
    page = await client.get("/console/finance")
    assert page.status_code == 200
    assert 'role="alert"' not in page.text
    assert "400-FAKE" not in page.text
