"""The shop's settings after it opened: name, logo, description, customer service (phone,
WeChat ID, hours) and return address, on the console page and through the JSON API. The link
never changes; a refusal saves nothing and shows its message next to its field; a merchant
only ever changes their own shop."""

import html
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop.errors import InvalidInput
from pocketshop.shops import service
from pocketshop.shops.models import Shop
from tests.commerce import Merchant, make_buyer, make_merchant, web_login
from tests.support import (
    api_error,
    csrf_from,
    image_bytes,
    media_files,
    other_client,
    page_alert,
    tr,
)

FIELDS = ("name", "description", "service_phone", "wechat_id", "business_hours", "return_address")
TYPED = {
    "name": "小明的手作铺（新）",
    "description": "手工皮具\n每一件都是手缝的",
    "service_phone": "139 0013 9000",
    "wechat_id": "xiaoming_shop",
    "business_hours": "周一至周五 9:00-18:00",
    "return_address": "浙江省杭州市西湖区文三路 90 号 小明 13800138000",
}
PROFILE = ("name", "slug", "description", "logo_key", *FIELDS[2:])


async def shop_row(app: FastAPI, shop_id: int) -> dict[str, Any]:
    async with app.state.db.transaction(write=False) as session:
        shop = await session.scalar(select(Shop).where(Shop.id == shop_id))
        assert shop is not None
        return {column: getattr(shop, column) for column in PROFILE}


async def settings_csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/settings")
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def post_settings(
    client: httpx.AsyncClient,
    csrf: str,
    logo: bytes | None = None,
    **fields: str,
) -> httpx.Response:
    files = {"logo": ("logo.png", logo, "image/png")} if logo is not None else None
    # A browser sends an empty file part when no logo was chosen.
    files = files or {"logo": ("", b"", "application/octet-stream")}
    return await client.post(
        "/console/settings", data={"csrf_token": csrf, **TYPED, **fields}, files=files
    )


def field_value(page: str, name: str) -> str:
    """What a field of the page holds (an input's value, a textarea's text), unescaped."""
    found = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', page) or re.search(
        rf'<textarea[^>]*\bname="{name}"[^>]*>([^<]*)</textarea>', page
    )
    assert found, f"no field {name}"
    return html.unescape(found.group(1))


def error_is_next_to(page: str, name: str) -> None:
    """The alert follows the field's control with no other field between; the control is
    marked invalid and described by it."""
    control = re.search(rf'<(?:input|textarea)[^>]*\bname="{name}"[^>]*>', page)
    assert control, f"no field {name}"
    assert 'aria-invalid="true"' in control.group(0)
    assert 'aria-describedby="form-error"' in control.group(0)
    alert = page.index('role="alert"')
    assert control.start() < alert
    assert 'name="' not in page[control.end() : alert], "another field before the message"
    assert page.count('role="alert"') == 1


async def merchant_on_page(app: FastAPI, client: httpx.AsyncClient, name: str) -> Merchant:
    merchant = await make_merchant(app, name)
    await web_login(app, client, merchant.user)
    return merchant


# --- the page --------------------------------------------------------------------------------


async def test_the_page_saves_every_field_and_the_link_stays(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await merchant_on_page(app, client, "小明的店")
    before = await shop_row(app, merchant.shop.id)
    home = await client.get("/console")
    assert 'href="/console/settings"' in home.text, "the shop card links to the settings"
    store = await client.get(f"/s/{before['slug']}")  # cached, to be dropped by the change
    assert "小明的店" in store.text

    page = await client.get("/console/settings")
    assert page.status_code == 200
    assert field_value(page.text, "name") == "小明的店"
    assert 'enctype="multipart/form-data"' in page.text
    saved = await post_settings(client, csrf_from(page.text), logo=image_bytes("PNG"))
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/console/settings?done=saved"

    after = await shop_row(app, merchant.shop.id)
    assert after == {
        "name": TYPED["name"],
        "slug": before["slug"],  # the name changed, the link did not
        "description": TYPED["description"],
        "logo_key": after["logo_key"],
        "service_phone": "+8613900139000",
        "wechat_id": "xiaoming_shop",
        "business_hours": "周一至周五 9:00-18:00",
        "return_address": TYPED["return_address"],
    }
    assert after["logo_key"]
    assert before["logo_key"] is None
    shown = await client.get(saved.headers["location"])
    assert tr("Shop settings saved.") in shown.text
    assert 'role="status"' in shown.text
    assert field_value(shown.text, "service_phone") == "139 0013 9000"
    assert field_value(shown.text, "description") == TYPED["description"]

    # A second logo replaces the first; the other fields are sent as they are.
    again = await post_settings(client, csrf_from(shown.text), logo=image_bytes("JPEG"))
    assert again.status_code == 303, again.text
    replaced = await shop_row(app, merchant.shop.id)
    assert replaced["logo_key"] != after["logo_key"]
    assert {k: v for k, v in replaced.items() if k != "logo_key"} == {
        k: v for k, v in after.items() if k != "logo_key"
    }
    # No logo chosen: the one there stays.
    kept = await post_settings(client, csrf_from(shown.text), business_hours="每天 10:00-22:00")
    assert kept.status_code == 303, kept.text
    assert (await shop_row(app, merchant.shop.id))["logo_key"] == replaced["logo_key"]

    # Buyers see the new name, the customer service and the hours on the shop's home.
    store = await client.get(f"/s/{before['slug']}")
    assert store.status_code == 200
    assert html.escape(TYPED["name"]) in store.text
    assert 'href="tel:+8613900139000"' in store.text
    assert "xiaoming_shop" in store.text
    assert "每天 10:00-22:00" in store.text


async def test_clearing_the_optional_fields(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await merchant_on_page(app, client, "小明的店")
    csrf = await settings_csrf(client)
    assert (await post_settings(client, csrf)).status_code == 303
    empty = dict.fromkeys(FIELDS[1:], "  ")
    cleared = await post_settings(client, csrf, **empty)
    assert cleared.status_code == 303, cleared.text
    row = await shop_row(app, merchant.shop.id)
    assert [row[field] for field in FIELDS[1:]] == [""] * 5
    store = await client.get(f"/s/{row['slug']}")
    assert "store-contact" not in store.text


REFUSALS = [
    ("name", "   ", "name_required", "Enter a shop name."),
    ("name", "店" * 31, "name_too_long", "The shop name can have at most %(max)s characters."),
    (
        "description",
        "好" * 501,
        "description_too_long",
        "The description can have at most %(max)s characters.",
    ),
    (
        "service_phone",
        "12345",
        "invalid_service_phone",
        "Enter a mobile phone number buyers can call, e.g. 138 0013 8000.",
    ),
    (
        "service_phone",
        "010 6552 9988",  # a landline
        "invalid_service_phone",
        "Enter a mobile phone number buyers can call, e.g. 138 0013 8000.",
    ),
    (
        "wechat_id",
        "微信 号",
        "invalid_wechat_id",
        "A WeChat ID has 6 to 20 letters, digits, underscores or hyphens.",
    ),
    (
        "business_hours",
        "全" * 61,
        "business_hours_too_long",
        "Business hours can have at most %(max)s characters.",
    ),
    (
        "return_address",
        "址" * 301,
        "return_address_too_long",
        "The return address can have at most %(max)s characters.",
    ),
    ("logo", b"not an image", "invalid_logo", "The logo must be a JPEG, PNG, WebP or GIF image."),
]
LIMITS = {"name": 30, "description": 500, "business_hours": 60, "return_address": 300}


@pytest.mark.parametrize(("field", "value", "code", "message"), REFUSALS)
async def test_a_refusal_is_shown_next_to_its_field_and_nothing_is_saved(
    app: FastAPI,
    client: httpx.AsyncClient,
    field: str,
    value: str | bytes,
    code: str,
    message: str,
) -> None:
    merchant = await merchant_on_page(app, client, "小明的店")
    csrf = await settings_csrf(client)
    before = await shop_row(app, merchant.shop.id)
    files_before = media_files(app.state.settings)

    if isinstance(value, bytes):
        refused = await post_settings(client, csrf, logo=value)
    else:
        refused = await post_settings(client, csrf, logo=image_bytes("PNG"), **{field: value})

    assert refused.status_code == 422, refused.text
    assert page_alert(refused.text) == (code, tr(message, max=LIMITS.get(field, 0)))
    error_is_next_to(refused.text, field)
    # Everything typed is there again (but the file: browsers never keep one).
    for name in FIELDS:
        typed = value if name == field and isinstance(value, str) else TYPED[name]
        assert field_value(refused.text, name) == typed, name
    assert await shop_row(app, merchant.shop.id) == before
    assert media_files(app.state.settings) == files_before, "the new logo's file is gone"


async def test_the_form_needs_its_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await merchant_on_page(app, client, "小明的店")
    await settings_csrf(client)
    before = await shop_row(app, merchant.shop.id)
    refused = await post_settings(client, "0" * 64)
    assert refused.status_code == 403
    assert await shop_row(app, merchant.shop.id) == before


async def test_a_merchant_changes_only_their_own_shop(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Shop B's owner posts (with A's slug and id slipped in): B's shop changes, never A's."""
    a = await make_merchant(app, "甲的店")
    a_before = await shop_row(app, a.shop.id)
    async with other_client(app) as b_client:
        b = await merchant_on_page(app, b_client, "乙的店")
        b_before = await shop_row(app, b.shop.id)
        page = await b_client.get("/console/settings")
        assert field_value(page.text, "name") == "乙的店"
        assert "甲的店" not in page.text
        saved = await post_settings(
            b_client,
            csrf_from(page.text),
            slug=a_before["slug"],
            shop=a.shop.public_id,
            shop_id=str(a.shop.id),
        )
        assert saved.status_code == 303, saved.text
        put = await b_client.put("/api/v1/me/shop", json={"wechat_id": "b_shop_wx"}, headers=b.auth)
        assert put.status_code == 200, put.text
        assert put.json()["slug"] == b_before["slug"]

    assert await shop_row(app, a.shop.id) == a_before
    b_after = await shop_row(app, b.shop.id)
    assert b_after["name"] == TYPED["name"]
    assert b_after["wechat_id"] == "b_shop_wx"
    assert b_after["slug"] == b_before["slug"]
    # The API refuses fields it does not know, such as another shop's id.
    smuggled = await client.put(
        "/api/v1/me/shop", json={"name": "x店", "shop_id": a.shop.public_id}, headers=b.auth
    )
    assert smuggled.status_code == 422
    assert await shop_row(app, a.shop.id) == a_before


async def test_a_buyer_without_a_shop_is_sent_to_open_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    page = await client.get("/console/settings")
    assert page.status_code == 303
    assert page.headers["location"] == "/onboarding"
    csrf = csrf_from((await client.get("/onboarding")).text)
    posted = await post_settings(client, csrf, logo=image_bytes("PNG"))
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"] == "/onboarding"
    assert media_files(app.state.settings) == []

    api_error(
        await client.put("/api/v1/me/shop", json={"name": "新店"}, headers=buyer.auth),
        403,
        "not_a_merchant",
    )
    api_error(
        await client.post(
            "/api/v1/me/shop/logo",
            files={"logo": ("logo.png", image_bytes("PNG"), "image/png")},
            headers=buyer.auth,
        ),
        403,
        "not_a_merchant",
    )
    assert media_files(app.state.settings) == []


async def test_visitors_are_sent_to_log_in(app: FastAPI, client: httpx.AsyncClient) -> None:
    page = await client.get("/console/settings")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    api_error(await client.put("/api/v1/me/shop", json={"name": "新店"}), 401, "not_authenticated")
    api_error(
        await client.post(
            "/api/v1/me/shop/logo", files={"logo": ("logo.png", image_bytes("PNG"), "image/png")}
        ),
        401,
        "not_authenticated",
    )


# --- the JSON API ----------------------------------------------------------------------------


async def test_api_round_trip(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app, "小明的店")
    slug = merchant.shop.slug
    put = await client.put(
        "/api/v1/me/shop",
        json={**TYPED, "service_phone": "+86 139 0013 9000"},
        headers=merchant.auth,
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["slug"] == slug
    assert body["url"].endswith(f"/s/{slug}")
    assert {field: body[field] for field in FIELDS} == TYPED | {"service_phone": "+8613900139000"}

    mine = await client.get("/api/v1/me/shop", headers=merchant.auth)
    assert mine.json() == body
    public = (await client.get(f"/api/v1/shops/{slug}")).json()
    assert public["name"] == TYPED["name"]
    assert "return_address" not in public, "only its owner and after-sales show it"

    # A field left out stays; an empty one is cleared.
    partial = await client.put(
        "/api/v1/me/shop", json={"wechat_id": "", "name": "小明的店"}, headers=merchant.auth
    )
    assert partial.status_code == 200, partial.text
    assert partial.json()["wechat_id"] == ""
    assert partial.json()["name"] == "小明的店"
    assert partial.json()["return_address"] == TYPED["return_address"]
    assert partial.json()["slug"] == slug


API_REFUSALS = [
    ({"name": "店" * 31}, "name_too_long", "name"),
    ({"name": "\u200b\u200b"}, "name_required", "name"),  # nothing once cleaned
    ({"service_phone": "12345"}, "invalid_service_phone", "service_phone"),
    ({"business_hours": "全" * 61}, "business_hours_too_long", "business_hours"),
]


@pytest.mark.parametrize(("body", "code", "field"), API_REFUSALS)
async def test_api_refusals_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, str], code: str, field: str
) -> None:
    merchant = await make_merchant(app, "小明的店")
    before = await shop_row(app, merchant.shop.id)
    refused = await client.put("/api/v1/me/shop", json={**TYPED, **body}, headers=merchant.auth)
    assert api_error(refused, 422, code)["field"] == field
    assert await shop_row(app, merchant.shop.id) == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"wechat_id": "ab"},
        {"wechat_id": "has space1"},
        {"return_address": "址" * 301},
        {"name": "店", "logo_key": "logos/x.png"},
        {"slug": "new-slug"},
    ],
)
async def test_api_refuses_what_the_schema_does_not_allow(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    merchant = await make_merchant(app, "小明的店")
    before = await shop_row(app, merchant.shop.id)
    refused = await client.put("/api/v1/me/shop", json=body, headers=merchant.auth)
    assert refused.status_code == 422, refused.text
    assert await shop_row(app, merchant.shop.id) == before


async def test_a_return_address_fits_its_column(app: FastAPI) -> None:
    """300 characters as seen, but more code points than the column holds: refused."""
    merchant = await make_merchant(app, "小明的店")
    settings = app.state.settings
    async with app.state.db.transaction() as session:
        shop = await session.get_one(Shop, merchant.shop.id)
        await service.update_profile(session, settings, shop, return_address="址" * 300)
        with pytest.raises(InvalidInput) as refused:
            await service.update_profile(
                session, settings, shop, return_address="址" * 299 + "e\u0301\u0301"
            )
    assert (refused.value.code, refused.value.field) == (
        "return_address_too_long",
        "return_address",
    )


async def test_api_logo_upload(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app, "小明的店")
    sent = await client.post(
        "/api/v1/me/shop/logo",
        files={"logo": ("logo.webp", image_bytes("WEBP", (800, 600)), "image/webp")},
        headers=merchant.auth,
    )
    assert sent.status_code == 200, sent.text
    logo_url = sent.json()["logo_url"]
    assert logo_url
    assert logo_url.endswith(".png")
    row = await shop_row(app, merchant.shop.id)
    assert row["logo_key"]
    assert logo_url.endswith(row["logo_key"])
    assert len(media_files(app.state.settings)) == 1
    served = await client.get(logo_url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"

    for bad, code in ((b"GIF89a not really", "invalid_logo"), (b"", "invalid_logo")):
        refused = await client.post(
            "/api/v1/me/shop/logo",
            files={"logo": ("logo.gif", bad, "image/gif")},
            headers=merchant.auth,
        )
        assert api_error(refused, 422, code)["field"] == "logo"
    assert await shop_row(app, merchant.shop.id) == row
    assert len(media_files(app.state.settings)) == 1
    missing = await client.post("/api/v1/me/shop/logo", headers=merchant.auth)
    assert api_error(missing, 422, "invalid_logo")["field"] == "logo"
    # No Authorization at all: 401 before the (missing) form is looked at.
    api_error(await client.post("/api/v1/me/shop/logo"), 401, "not_authenticated")
