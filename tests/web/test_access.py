"""Every route declares who may call it (pocketshop.web.access), and each is called as
someone it must refuse: without a login; as a buyer on a merchant's route; as another shop,
or another buyer, on a resource that is not theirs; as an unsigned provider notice. Routes
anyone may call are called by a visitor who is not logged in, and must not ask for a login.

The world: shops A and B, buyers X and Y; A's product (with a SKU and a photo), group,
payment request and withdrawal; X's address and X's order at A, paid (its payment and the
sandbox trade), shipped, received and settled, and X's after-sales case on it (a return,
waiting for A). Path parameters are filled with A's and X's. Operators' routes are called by
a visitor, by X and A (neither an operator) and by an operator.
"""

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from pocketshop.accounts import service as accounts
from pocketshop.catalog import groups
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.payments.models import ProviderNotice
from pocketshop.web.access import ROUTES, Access
from tests.commerce import (
    ADDRESS,
    Buyer,
    Merchant,
    add_photos,
    make_buyer,
    make_merchant,
    make_product,
    next_phone,
    ordered,
    ship,
    web_login,
)
from tests.payments.money import pay_through_sandbox, settled, trade_no, withdraw
from tests.support import csrf_for, image_bytes

PARAM = re.compile(r"\{(\w+)\}")
# Whose a path parameter's value is, when it names something one party owns: on a merchant's
# route the shop's (A's, asked by B), on a buyer's route the buyer's (X's, asked by Y). A
# shop's slug, a SKU in a cart, a payment request a buyer takes are anyone's to name.
SHOPS = frozenset(
    {
        "number",
        "product_id",
        "public_id",
        "image_id",
        "sku_id",
        "group_id",
        "request_id",
        "withdrawal_id",
        "case_id",
        "store_id",
        "staff_id",
        "campaign_id",
        "customer_id",
        "tag_id",
        "privilege_id",
    }
)
BUYERS = frozenset({"number", "payment_id", "address_id", "case_id"})
PHOTO = ("photo.png", image_bytes(), "image/png")
# What a refused call sends, where an empty body would be refused before the route asks who
# is calling or whose the resource is (the framework checks bodies first): valid requests.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/me/shop/products/{product_id}"): {
        "json": {"title": "改了名的钱包", "skus": [{"price": 9900}]}
    },
    ("PUT", "/api/v1/me/shop/products/{product_id}/status"): {"json": {"status": "off_shelf"}},
    ("POST", "/api/v1/me/shop/products/{product_id}/images"): {"files": {"images": PHOTO}},
    ("POST", "/api/v1/me/shop/skus/{sku_id}/stock-adjustments"): {
        "json": {"delta": 1, "reason": "restock"}
    },
    ("PUT", "/api/v1/me/shop/groups/{group_id}"): {"json": {"name": "改名"}},
    ("POST", "/api/v1/me/shop/orders/{number}/shipments"): {
        "json": {"carrier": "SF", "tracking_number": "SF1234567890124"}
    },
    ("POST", "/api/v1/me/shop/orders/{number}/refunds"): {"json": {"amount": 100}},
    ("PUT", "/api/v1/me/addresses/{address_id}"): {"json": ADDRESS},
    ("POST", "/api/v1/orders/{number}/payments"): {
        "json": {"provider": "sandbox", "channel": "page"}
    },
    ("POST", "/console/products/{public_id}/status"): {"data": {"status": "off_shelf"}},
    ("POST", "/console/products/{public_id}/images"): {"files": {"images": PHOTO}},
    ("POST", "/api/v1/orders/{number}/aftersales"): {
        "json": {"line_id": "nosuchline", "kind": "refund_only", "quantity": 1, "reason": "other"}
    },
    ("POST", "/api/v1/aftersales/{case_id}/photos"): {"files": {"images": PHOTO}},
    ("POST", "/api/v1/aftersales/{case_id}/return-shipment"): {
        "json": {"carrier": "SF", "tracking_number": "SF1234567890125"}
    },
    ("POST", "/api/v1/me/shop/aftersales/{case_id}/propose"): {"json": {"amount": 100}},
    ("POST", "/api/v1/me/shop/aftersales/{case_id}/refuse"): {"json": {"reason": "不同意"}},
    ("POST", "/me/orders/{number}/aftersales"): {
        "data": {"line": "nosuchline", "kind": "refund_only", "quantity": "1", "reason": "other"}
    },
    ("POST", "/console/aftersales/{case_id}/{action}"): {
        "data": {"return_address": "上海市黄浦区南京东路 1 号"}
    },
    ("POST", "/admin/disputes/{case_id}"): {"data": {"decision": "reject", "note": "不予退款"}},
    ("PATCH", "/api/v1/me/shop/stores/{store_id}"): {"json": {"active": False}},
    ("POST", "/api/v1/me/shop/stores/{store_id}/staff"): {"json": {"name": "小李"}},
    ("PATCH", "/api/v1/me/shop/staff/{staff_id}"): {"json": {"active": False}},
    ("PATCH", "/api/v1/me/shop/campaigns/{campaign_id}"): {"json": {"active": False}},
    ("POST", "/console/stores/{store_id}/staff"): {"data": {"name": "小李"}},
    ("PUT", "/api/v1/me/shop/customers/{customer_id}/note"): {"json": {"note": "改"}},
    ("POST", "/api/v1/me/shop/customers/{customer_id}/tags"): {"json": {"name": "新"}},
    ("POST", "/console/customers/{customer_id}/note"): {"data": {"note": "改"}},
    ("POST", "/console/customers/{customer_id}/tags"): {"data": {"tag": "新"}},
}
# Parameters one route takes other values of than the world's (`action` is "cover" for a
# product's photo): each a step the route offers, so a refusal is not a 404 for the step.
OVERRIDES: dict[str, dict[str, str]] = {
    "/me/aftersales/{case_id}/{action}": {"action": "withdraw"},
    "/console/aftersales/{case_id}/{action}": {"action": "agree"},
    "/console/stores/{store_id}/{action}": {"action": "archive"},
    "/console/staff/{staff_id}/{action}": {"action": "archive"},
    "/console/campaigns/{campaign_id}/{action}": {"action": "archive"},
}
# The query a route needs, filled as its path is.
QUERIES = {"/me/orders/{number}/aftersales/new": "?line={line_id}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every refusal below that names A's or X's things is a miss: not a guesser to stop here.
    return settings.model_copy(
        update={"lookup_misses_per_user": 10_000, "lookup_misses_per_ip": 10_000}
    )


@dataclass
class World:
    a: Merchant
    b: Merchant
    x: Buyer
    y: Buyer
    params: dict[str, str]
    api: httpx.AsyncClient  # no cookies: who asks is the bearer token alone
    browsers: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)

    def tokens(self, who: str) -> dict[str, str]:
        parties: dict[str, Merchant | Buyer] = {"a": self.a, "b": self.b, "x": self.x, "y": self.y}
        party = parties.get(who)
        return party.auth if party is not None else {}

    async def call(self, who: str, method: str, template: str) -> httpx.Response:
        """`template` called by `who` (a, b, x, y, an operator or nobody), its parameters
        filled."""
        params = self.params | OVERRIDES.get(template, {})
        path = PARAM.sub(lambda found: params[found.group(1)], template + QUERIES.get(template, ""))
        body = BODIES.get((method, template), {})
        if path.startswith("/api/"):
            if method != "GET":
                body = body or {"json": {}}
            return await self.api.request(method, path, headers=self.tokens(who), **body)
        browser = self.browsers[who]
        if method == "GET":
            return await browser.get(path)
        form = {"csrf_token": self.csrf[who], **body.get("data", {})}
        return await browser.request(method, path, data=form, files=body.get("files"))


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[World]:
    a = await make_merchant(app, "甲店")
    b = await make_merchant(app, "乙店")
    x = await make_buyer(app)
    y = await make_buyer(app)
    made = await make_product(app, a.shop)
    await add_photos(app, a.shop, made.id, [image_bytes()])
    db: Database = app.state.db
    async with db.transaction() as session:
        group = await groups.create_group(session, a.shop, "新品")
    product = (await client.get(f"/api/v1/me/shop/products/{made.id}", headers=a.auth)).json()
    address = await client.post("/api/v1/me/addresses", json=ADDRESS, headers=x.auth)
    number = await ordered(client, x, a.shop, [(made.skus[0], 1)])
    started = await pay_through_sandbox(client, x, number)
    assert (await ship(client, a, number, "SF1234567890123")).status_code == 201
    received = await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=x.auth)
    assert received.status_code == 200, received.text
    await settled(app)
    withdrawn = await withdraw(client, a, 100)
    assert withdrawn.status_code == 201, withdrawn.text
    asked = await client.post(
        "/api/v1/me/shop/payment-requests", json={"amount": 500, "note": "定金"}, headers=a.auth
    )
    assert asked.status_code == 201, asked.text
    # Received a day ago, within the after-sales window: X asks to return it.
    line = (await client.get(f"/api/v1/orders/{number}", headers=x.auth)).json()["lines"][0]
    case = await client.post(
        f"/api/v1/orders/{number}/aftersales",
        json={"line_id": line["id"], "kind": "return_refund", "quantity": 1, "reason": "damaged"},
        headers=x.auth,
    )
    assert case.status_code == 201, case.text
    async with db.transaction() as session:
        operator = await accounts.set_operator(session, next_phone(), on=True)
    store = await client.post("/api/v1/me/shop/stores", json={"name": "西湖店"}, headers=a.auth)
    staff = await client.post(
        f"/api/v1/me/shop/stores/{store.json()['id']}/staff", json={"name": "小王"}, headers=a.auth
    )
    campaign = await client.post(
        "/api/v1/me/shop/campaigns", json={"label": "市集海报"}, headers=a.auth
    )
    assert campaign.status_code == staff.status_code == 201, (staff.text, campaign.text)
    customer = (await client.get("/api/v1/me/shop/customers", headers=a.auth)).json()["items"][0]
    tagged = await client.post(
        f"/api/v1/me/shop/customers/{customer['id']}/tags", json={"name": "VIP"}, headers=a.auth
    )
    privilege = await client.post(
        "/api/v1/me/shop/privileges",
        json={
            "product_id": made.id,
            "kind": "discount",
            "value": 500,
            "customer_id": customer["id"],
        },
        headers=a.auth,
    )
    assert privilege.status_code == tagged.status_code == 201, (tagged.text, privilege.text)
    params = {
        "slug": a.shop.slug,
        "number": number,
        "payment_id": started["payment"]["id"],
        "out_trade_no": trade_no(started),
        "request_id": asked.json()["id"],
        "product_id": made.id,
        "public_id": made.id,
        "image_id": product["images"][0]["id"],
        "action": "cover",
        "sku_id": made.skus[0].public_id,
        "group_id": group.public_id,
        "withdrawal_id": withdrawn.json()["id"],
        "address_id": address.json()["id"],
        "provider_name": "sandbox",
        "kind": "svg",
        "case_id": case.json()["id"],
        "line_id": line["id"],
        "store_id": store.json()["id"],
        "staff_id": staff.json()["id"],
        "campaign_id": campaign.json()["id"],
        "customer_id": customer["id"],
        "tag_id": tagged.json()["tags"][0]["id"],
        "privilege_id": privilege.json()[0]["id"],
        # A good token is a store's; any string is a path a visitor may open.
        "token": store.json()["link"].rsplit("/", 1)[1],
    }
    async with AsyncExitStack() as stack:
        found = World(a, b, x, y, params, api=client)
        for who, user in {
            "nobody": None,
            "a": a.user,
            "b": b.user,
            "x": x.user,
            "y": y.user,
            "operator": operator,
        }.items():
            transport = httpx.ASGITransport(app=app)
            browser = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            found.browsers[who] = await stack.enter_async_context(browser)
            found.csrf[who] = await csrf_for(browser, "/login")
            if user is not None:
                await web_login(app, browser, user)
        yield found


def declared(kind: Access) -> list[tuple[str, str]]:
    return [route for route, access in ROUTES.items() if access is kind]


def owned(template: str, owners: frozenset[str]) -> bool:
    return bool(set(PARAM.findall(template)) & owners)


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        for method in (route.methods or {"GET"}) - {"HEAD"}:  # a mount has no methods
            found.add((method, str(route.path)))
    return found


def test_every_route_is_declared_and_every_declaration_is_a_route(app: FastAPI) -> None:
    routes = app_routes(app)
    assert sorted(routes - set(ROUTES)) == [], "routes with no line in web/access.py"
    assert sorted(set(ROUTES) - routes) == [], "lines in web/access.py naming no route"


def login_asked(response: httpx.Response, api: bool) -> bool:
    if api:
        return (
            response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
        )
    return response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_merchant_routes_refuse_visitors_buyers_and_other_shops(world: World) -> None:
    wrong = []
    for method, template in declared(Access.merchant):
        api = template.startswith("/api/")
        route = f"{method} {template}"
        if not login_asked(answer := await world.call("nobody", method, template), api):
            wrong.append(f"{route} without a login: {answer.status_code}")
        answer = await world.call("x", method, template)
        if api and not (
            answer.status_code == 403 and answer.json()["error"]["code"] == "not_a_merchant"
        ):
            wrong.append(f"{route} as a buyer: {answer.status_code} {answer.text[:80]}")
        if not api and (answer.status_code, answer.headers.get("location")) != (
            303,
            "/onboarding",
        ):
            wrong.append(f"{route} as a buyer: {answer.status_code}")
        if owned(template, SHOPS):
            answer = await world.call("b", method, template)
            if answer.status_code != 404:
                wrong.append(f"{route} as another shop: {answer.status_code} {answer.text[:80]}")
        if method == "GET" and not (answer := await world.call("a", method, template)).is_success:
            wrong.append(f"{route} as the shop itself: {answer.status_code}")
    assert wrong == [], "\n".join(wrong)


async def test_buyer_routes_refuse_visitors_and_other_buyers(world: World) -> None:
    wrong = []
    for method, template in declared(Access.buyer):
        api = template.startswith("/api/")
        route = f"{method} {template}"
        if not login_asked(answer := await world.call("nobody", method, template), api):
            wrong.append(f"{route} without a login: {answer.status_code}")
        if owned(template, BUYERS):
            answer = await world.call("y", method, template)
            if answer.status_code != 404:
                wrong.append(f"{route} as another buyer: {answer.status_code} {answer.text[:80]}")
        if method == "GET" and (answer := await world.call("x", method, template)).is_error:
            wrong.append(f"{route} as the buyer: {answer.status_code}")
    assert wrong == [], "\n".join(wrong)


async def test_operator_routes_refuse_visitors_buyers_and_shops(world: World) -> None:
    """Only a platform operator gets in: a visitor is asked to log in, a buyer or a shop's
    owner (logged in, not an operator) is refused 403, an operator is answered."""
    wrong = []
    assert declared(Access.operator), "no operator routes"
    for method, template in declared(Access.operator):
        route = f"{method} {template}"
        if not login_asked(answer := await world.call("nobody", method, template), api=False):
            wrong.append(f"{route} without a login: {answer.status_code}")
        for who in ("x", "a"):
            if (answer := await world.call(who, method, template)).status_code != 403:
                wrong.append(f"{route} as {who}, not an operator: {answer.status_code}")
        answer = await world.call("operator", method, template)
        refused = answer.status_code in (401, 403) or answer.is_server_error
        if refused or answer.headers.get("location", "").startswith("/login"):
            wrong.append(f"{route} as an operator: {answer.status_code}")
        if method == "GET" and not answer.is_success:
            wrong.append(f"{route} as an operator: {answer.status_code}")
    assert wrong == [], "\n".join(wrong)
    # Refused as asked: the case the operators' form was posted about is as it was.
    case = await world.api.get(
        f"/api/v1/aftersales/{world.params['case_id']}", headers=world.x.auth
    )
    assert (case.json()["status"], case.json()["decision_note"]) == ("requested", "")


async def test_public_routes_ask_nobody_to_log_in(world: World) -> None:
    wrong = []
    for method, template in declared(Access.public):
        answer = await world.call("nobody", method, template)
        if (
            answer.status_code in (401, 403)
            or answer.is_server_error
            or answer.headers.get("location", "").startswith("/login")
        ):
            wrong.append(f"{method} {template}: {answer.status_code}")
    assert wrong == [], "\n".join(wrong)


async def test_provider_callbacks_refuse_an_unsigned_notice(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    db: Database = app.state.db

    async def notices() -> int:
        async with db.transaction(write=False) as session:
            return int(await session.scalar(select(func.count()).select_from(ProviderNotice)) or 0)

    forged = b'{"id": "forged", "event_type": "TRANSACTION.SUCCESS"}'
    for method, template in declared(Access.provider):
        for provider in app.state.payments.providers:
            path = template.replace("{provider_name}", provider)
            answer = await client.request(method, path, content=forged)
            assert answer.status_code in (400, 401), (path, answer.status_code)
    assert await notices() == 0
