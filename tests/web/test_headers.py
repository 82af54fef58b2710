"""Security headers on every kind of answer, HSTS only behind https, cookies SameSite=Lax and
Secure when configured so (as production must be), and pages that a strict CSP cannot break:
no inline script, no inline handler, no inline style."""

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.accounts import service as accounts
from pocketshop.app import create_app
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.web.headers import STRICT_POLICY, page_policy
from pocketshop.web.templating import PACKAGE_DIR
from tests.commerce import make_buyer, make_merchant, make_product, ordered
from tests.orders.test_store_pages import log_in
from tests.payments.money import pay_through_sandbox, trade_no
from tests.support import csrf_from, other_client, page_login
from tests.web.test_page_cache import count_statements

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers.get("content-security-policy", "")
    parsed = [part.split() for part in policy.split(";") if part.strip()]
    return {words[0]: words[1:] for words in parsed}


def assert_secured(response: httpx.Response, *, page: bool) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, response.url, response.headers)
    csp = directives(response)
    assert csp["frame-ancestors"] == ["'none'"], csp
    if page:
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'"]
        assert csp["style-src"] == ["'self'"]
        assert csp["img-src"] == ["'self'", "data:"]
        assert csp["object-src"] == csp["base-uri"] == ["'none'"]
    else:
        assert response.headers["content-security-policy"] == STRICT_POLICY


@asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update=changes))
    try:
        yield application
    finally:
        await application.state.runtime.close()


async def test_pages_cached_pages_errors_redirects_files_and_the_api_carry_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    home = await client.get("/")
    assert home.status_code == 200
    assert_secured(home, page=True)
    assert "strict-transport-security" not in home.headers  # http://testserver

    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "带头的钱包")
    url = f"/s/{merchant.shop.slug}/p/{made.id}"
    assert_secured(await client.get(url), page=True)
    statements = count_statements(app)
    cached = await client.get(url)
    assert statements == []  # answered by CachedPages, before routing
    assert "带头的钱包" in cached.text
    assert_secured(cached, page=True)

    missing = await client.get("/s/no-such-shop")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert_secured(missing, page=True)

    redirect = await client.get("/console")
    assert redirect.status_code == 303
    assert_secured(redirect, page=False)

    css = await client.get("/static/app.css")
    assert css.status_code == 200
    assert_secured(css, page=False)

    health = await client.get("/healthz")
    assert health.json() == {"status": "ok"}
    assert_secured(health, page=False)
    refused = await client.get("/api/v1/me/shop")
    assert refused.status_code == 401
    assert_secured(refused, page=False)
    schema = await client.get("/openapi.json")
    assert_secured(schema, page=False)


async def test_an_unexpected_error_answered_outside_the_middleware_carries_them(
    app: FastAPI,
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.get("/broken")
    assert answer.status_code == 500
    assert_secured(answer, page=True)


async def test_hsts_only_when_the_public_url_is_https(settings: Settings) -> None:
    async with app_with(settings, public_base_url="https://shop.example.com") as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            for path in ("/", "/healthz", "/static/app.css", "/console"):
                answer = await http.get(path)
                assert answer.headers["strict-transport-security"] == "max-age=31536000"
                assert_secured(answer, page=path == "/")


async def test_forms_may_go_on_to_the_configured_providers_only(settings: Settings) -> None:
    sandbox_only = page_policy(settings)
    assert "form-action 'self' http://testserver;" in sandbox_only
    assert "tenpay" not in sandbox_only
    assert "alipay" not in sandbox_only
    real = page_policy(settings.model_copy(update={"payment_providers": ["wechatpay", "alipay"]}))
    form_action = next(part for part in real.split("; ") if part.startswith("form-action"))
    assert form_action.split()[1:] == [
        "'self'",
        "http://testserver",
        "https://wx.tenpay.com",
        "https://openapi.alipay.com",
        "https://*.alipay.com",
    ]


async def test_the_api_docs_load_from_this_site_with_their_inline_script_hashed(
    client: httpx.AsyncClient,
) -> None:
    """No CDN (blocked in mainland China, absent offline): Swagger UI's files are ours."""
    docs = await client.get("/docs")
    assert docs.status_code == 200
    scripts = re.findall(r"<script>(.*?)</script>", docs.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = directives(docs)
    assert csp["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert "https://" not in docs.text  # nothing loads from elsewhere
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', docs.text):
        answer = await client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000, asset
    redoc = await client.get("/redoc")
    assert "https://" not in redoc.text.replace("https://github.com", "")  # its credits link
    assert directives(redoc)["script-src"][0] == "'self'"
    for asset in re.findall(r'src="(/[^"]+)"', redoc.text):
        assert (await client.get(asset)).status_code == 200, asset


# --- cookies -------------------------------------------------------------------------------


async def test_every_cookie_is_samesite_lax_httponly_and_secure_when_configured(
    settings: Settings,
) -> None:
    """Production refuses to start without `cookie_secure` (tests/test_config.py)."""
    seen: list[str] = []

    async def record(response: httpx.Response) -> None:
        seen.extend(response.headers.get_list("set-cookie"))

    async with app_with(
        settings, cookie_secure=True, public_base_url="https://testserver"
    ) as application:
        merchant = await make_merchant(application)
        made = await make_product(application, merchant.shop, "安全的饼干")
        shop = f"/s/{merchant.shop.slug}"
        sku = made.skus[0].public_id
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="https://testserver",
            event_hooks={"response": [record]},
        ) as http:
            token = csrf_from((await http.get(f"{shop}/p/{made.id}")).text)  # ps_csrf
            cart = {"csrf_token": token, "product": made.id, "sku": sku, "quantity": "1"}
            for step in ("add", "remove", "add"):  # ps_cart set, deleted (empty), set
                assert (await http.post(f"{shop}/cart/{step}", data=cart)).status_code == 303
            await http.post("/language", data={"csrf_token": token, "lang": "en"})  # ps_lang
            buyer = await make_buyer(application)
            # ps_session, and ps_cart deleted as the guest cart joins the buyer's
            await page_login(http, application, buyer.user.phone, f"{shop}/cart")
            await http.post("/logout", data={"csrf_token": token})  # ps_session deleted
    names = [cookie.split("=", 1)[0] for cookie in seen]
    assert sorted(set(names)) == ["ps_cart", "ps_csrf", "ps_lang", "ps_session"]
    assert names.count("ps_cart") == 4
    assert names.count("ps_session") == 2
    for cookie in seen:
        attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
        assert "secure" in attributes, cookie
        assert "httponly" in attributes, cookie
        assert attributes["samesite"].strip().lower() == "samesite=lax", cookie


# --- pages that a strict policy cannot break -------------------------------------------------

TEMPLATES = sorted(PACKAGE_DIR.rglob("templates/**/*.html"))
INLINE_PATTERNS = {
    "inline script": re.compile(
        r"<script\b(?![^>]*\bsrc=)(?![^>]*\btype=\"application/json\")[^>]*>", re.I
    ),
    "event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I | re.S),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I | re.S),
    "style element": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_no_template_has_inline_script_handlers_or_styles(template: Path) -> None:
    text = template.read_text()
    for what, pattern in INLINE_PATTERNS.items():
        assert not pattern.search(text), f"{what} in {template}: {pattern.search(text)}"


def test_the_template_walk_sees_templates() -> None:
    assert len(TEMPLATES) > 30


class InlineFinder(HTMLParser):
    """Everything in a rendered page that `script-src 'self'; style-src 'self'` would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and "src" not in named and named.get("type") != "application/json":
            self.found.append(f"inline <script> {attrs}")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}={value!r}>")
            if (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")


def page_routes(app: FastAPI) -> Iterator[str]:
    """The path of every GET route (walking the included routers) outside the JSON API."""
    pending: list[Any] = list(app.router.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
            continue
        methods = getattr(route, "methods", None) or set()
        if "GET" in methods and not route.path.startswith("/api/"):
            yield route.path


NOT_PAGES = {
    "/healthz",
    "/favicon.ico",
    "/openapi.json",
    "/docs",  # Swagger UI, with its own policy: see above
    "/docs/oauth2-redirect",
    "/redoc",
    "/s/{slug}/qr.{kind}",
    "/s/{slug}/poster.png",
    "/qr.svg",
    "/s/{slug}/p/{product_id}/poster.png",
    "/s/{slug}/pay/{request_id}/qr.svg",
    "/s/{slug}/pay/{request_id}/poster.png",
    "/console/orders.csv",
    "/console/orders.xlsx",
    "/console/customers.csv",
    "/console/customers.xlsx",
    "/console/analytics.csv",
    "/console/analytics.xlsx",
    "/console/orders/updates",
    "/me/orders/{number}/return",  # redirects: to the order page, to /onboarding
    "/onboarding/identity",
    "/onboarding/bank-card",
    "/onboarding/shop",
    "/s/{slug}/go/{token}",  # an attributed link: redirects into the shop
    "/wechat/signin",  # redirects to WeChat (404 here: no Official Account)
    "/wechat/callback",
    "/me/phone",  # for an account signed in with WeChat only (tests/accounts/test_wechat_sign_in)
}


# Pages that need a query to be themselves (the application form is for one order line).
QUERIES = {"/me/orders/{number}/aftersales/new": "?line={line}"}


async def test_every_page_renders_without_inline_script_handlers_or_styles(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "检查的钱包", specs={"颜色": ["红", "蓝"]})
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)])
    started = await pay_through_sandbox(client, buyer, number)
    request = await client.post(
        "/api/v1/me/shop/payment-requests",
        json={"amount": 500, "note": "定金"},
        headers=merchant.auth,
    )
    assert request.status_code == 201, request.text
    # A case on another order: the first one's line stays free for the application form.
    other = await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)])
    await pay_through_sandbox(client, buyer, other)
    line = (await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)).json()["lines"][0]
    other_line = (await client.get(f"/api/v1/orders/{other}", headers=buyer.auth)).json()
    case = await client.post(
        f"/api/v1/orders/{other}/aftersales",
        json={
            "line_id": other_line["lines"][0]["id"],
            "kind": "refund_only",
            "quantity": 1,
            "reason": "other",
        },
        headers=buyer.auth,
    )
    assert case.status_code == 201, case.text
    db: Database = app.state.db
    async with db.transaction() as session:  # the merchant decides disputes too, here
        await accounts.set_operator(session, merchant.user.phone, on=True)
    store = await client.post(
        "/api/v1/me/shop/stores", json={"name": "西湖店"}, headers=merchant.auth
    )
    assert store.status_code == 201, store.text
    customers = await client.get("/api/v1/me/shop/customers", headers=merchant.auth)
    values = {
        "{customer_id}": customers.json()["items"][0]["id"],
        "{store_id}": store.json()["id"],
        "{case_id}": case.json()["id"],
        "{slug}": merchant.shop.slug,
        "{product_id}": made.id,
        "{public_id}": made.id,
        "{number}": number,
        "{request_id}": request.json()["id"],
        "{out_trade_no}": trade_no(started),
    }
    paths = set(page_routes(app)) - NOT_PAGES
    shown: set[str] = set()
    async with other_client(app) as as_buyer, other_client(app) as as_merchant:
        await log_in(app, as_buyer, buyer.user)
        await log_in(app, as_merchant, merchant.user)
        await as_buyer.post(
            f"/s/{merchant.shop.slug}/cart/add",
            data={
                "csrf_token": csrf_from((await as_buyer.get("/me/orders")).text),
                "sku": made.skus[1].public_id,
                "quantity": "1",
            },
        )
        for path in sorted(paths):
            url = path
            for placeholder, value in values.items():
                url = url.replace(placeholder, value)
            assert "{" not in url, f"no value for a parameter of {path}: add it"
            url += QUERIES.get(path, "").format(line=line["id"])
            for visitor in (client, as_buyer, as_merchant):
                answer = await visitor.get(url, follow_redirects=True)
                assert answer.status_code < 500, (url, answer.text)
                if not answer.headers["content-type"].startswith("text/html"):
                    continue
                assert_secured(answer, page=True)
                finder = InlineFinder()
                finder.feed(answer.text)
                assert finder.found == [], (url, finder.found)
                if answer.status_code == 200 and not answer.history:
                    shown.add(path)
    assert shown == paths  # each page itself, not only the login page it may send to
