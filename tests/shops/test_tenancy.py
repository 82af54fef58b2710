"""Two merchants on one platform: B never sees or changes A's onboarding data or shop, and A's
full ID and card numbers are never shown to anyone, A included."""

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.db import Database
from pocketshop.shops import service
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop
from tests.support import (
    api_bank_card,
    api_error,
    api_identity,
    api_login,
    api_open_shop,
    card_number,
    counts,
    csrf_for,
    id_number,
    image_bytes,
    other_client,
    page_alert,
    page_login,
    tr,
    years_before,
)

A_PHONE, B_PHONE = "13800138000", "13900139000"
A_NAME, B_NAME = "王小明", "李雷"
A_SHOP = "阿明的店"
A_SLUG = "a-ming-de-dian"


@dataclass
class Merchant:
    auth: dict[str, str]
    id_number: str
    card_number: str


def a_numbers() -> tuple[str, str]:
    born = years_before(clock.now().date(), 35)
    return id_number(born, sequence="987"), card_number("621700123498765432")


@pytest.fixture
async def a(client: httpx.AsyncClient, app: FastAPI) -> Merchant:
    """Merchant A, done with every step, with a logo."""
    number, card = a_numbers()
    auth = await api_login(client, app, A_PHONE)
    assert (await api_identity(client, auth, A_NAME, id_number=number)).status_code == 200
    assert (await api_bank_card(client, auth, A_NAME, card_number=card)).status_code == 200
    shop = await api_open_shop(client, auth, A_SHOP, description="A 的小店", logo=image_bytes())
    assert shop.status_code == 201, shop.text
    assert shop.json()["slug"] == A_SLUG
    return Merchant(auth=auth, id_number=number, card_number=card)


@pytest.fixture
async def b(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    """Merchant B, just logged in through the API."""
    return await api_login(client, app, B_PHONE)


async def shop_rows(db: Database) -> list[tuple[int, str, str, str, str | None]]:
    async with db.transaction(write=False) as s:
        rows = await s.execute(
            select(Shop.owner_id, Shop.slug, Shop.name, Shop.description, Shop.logo_key).order_by(
                Shop.id
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def user_id(db: Database, phone: str) -> int:
    async with db.transaction(write=False) as s:
        found = await s.scalar(select(User.id).where(User.phone == "+86" + phone))
    assert found is not None
    return found


# --- service ------------------------------------------------------------------------------------


async def test_service_reads_only_the_callers_rows(
    db: Database, a: Merchant, b: dict[str, str]
) -> None:
    async with db.transaction(write=False) as s:
        user_b = await s.scalar(select(User).where(User.phone == "+86" + B_PHONE))
        assert user_b is not None
        state = await service.onboarding(s, user_b)
        assert state.step is service.Step.identity
        assert (state.identity, state.bank_card, state.shop) == (None, None, None)
        assert await service.get_for_owner(s, user_b) is None


# --- JSON API -----------------------------------------------------------------------------------


async def test_api_b_sees_only_their_own_onboarding(
    client: httpx.AsyncClient, a: Merchant, b: dict[str, str]
) -> None:
    state = await client.get("/api/v1/onboarding", headers=b)
    assert state.status_code == 200
    assert state.json() == {"step": "identity", "identity": None, "bank_card": None, "shop": None}
    mine = await client.get("/api/v1/onboarding", headers=a.auth)
    assert mine.json()["step"] == "done"
    assert mine.json()["shop"]["slug"] == A_SLUG


async def test_api_me_shop_is_the_callers(
    client: httpx.AsyncClient, app: FastAPI, db: Database, a: Merchant, b: dict[str, str]
) -> None:
    api_error(await client.get("/api/v1/me/shop", headers=b), 403, "not_a_merchant")
    assert (await client.get("/api/v1/me/shop", headers=a.auth)).json()["name"] == A_SHOP

    assert (await api_identity(client, b, B_NAME)).status_code == 200
    assert (await api_bank_card(client, b, B_NAME)).status_code == 200
    assert (await api_open_shop(client, b, "雷雷的店")).status_code == 201

    a_shop = (await client.get("/api/v1/me/shop", headers=a.auth)).json()
    b_shop = (await client.get("/api/v1/me/shop", headers=b)).json()
    assert (a_shop["name"], a_shop["slug"]) == (A_SHOP, A_SLUG)
    assert (b_shop["name"], b_shop["slug"]) == ("雷雷的店", "lei-lei-de-dian")
    assert a_shop["id"] != b_shop["id"]


async def test_api_b_cannot_slip_in_a_s_ids(
    client: httpx.AsyncClient, db: Database, a: Merchant, b: dict[str, str]
) -> None:
    a_id = await user_id(db, A_PHONE)
    before = await counts(db)
    api_error(await api_identity(client, b, B_NAME, user_id=str(a_id)), 422, "invalid")
    api_error(await api_bank_card(client, b, B_NAME, user_id=str(a_id)), 422, "invalid")
    assert await counts(db) == before


async def test_api_b_opening_a_shop_leaves_a_s_shop_alone(
    client: httpx.AsyncClient, db: Database, a: Merchant, b: dict[str, str]
) -> None:
    a_before = await shop_rows(db)
    assert (await api_identity(client, b, B_NAME)).status_code == 200
    assert (await api_bank_card(client, b, B_NAME)).status_code == 200
    # The same name, and form fields that try to point at A's shop: all ignored.
    response = await client.post(
        "/api/v1/onboarding/shop",
        data={
            "name": A_SHOP,
            "description": "B 的店",
            "slug": A_SLUG,
            "owner_id": str(await user_id(db, A_PHONE)),
            "id": a_before[0][1],
        },
        headers=b,
    )
    assert response.status_code == 201, response.text
    assert response.json()["slug"] == f"{A_SLUG}-2"
    rows = await shop_rows(db)
    assert rows[0] == a_before[0]
    assert rows[1][0] == await user_id(db, B_PHONE)
    assert (await client.get(f"/api/v1/shops/{A_SLUG}")).json()["description"] == "A 的小店"


async def test_api_b_steps_do_not_count_for_a_or_the_other_way(
    client: httpx.AsyncClient, app: FastAPI, db: Database, b: dict[str, str]
) -> None:
    clock.advance(timedelta(seconds=61))
    a_auth = await api_login(client, app, A_PHONE)
    assert (await api_identity(client, a_auth, A_NAME)).status_code == 200
    before = await counts(db)
    # A's identity does not unlock B's bank-card step ...
    api_error(await api_bank_card(client, b, A_NAME), 409, "step_out_of_order")
    assert await counts(db) == before
    # ... and B's identity does not touch A's.
    assert (await api_identity(client, b, B_NAME)).status_code == 200
    a_state = (await client.get("/api/v1/onboarding", headers=a_auth)).json()
    assert a_state["identity"]["real_name"] == A_NAME
    async with db.transaction(write=False) as s:
        owners = list(await s.scalars(select(MerchantIdentity.user_id)))
    assert sorted(owners) == sorted([await user_id(db, A_PHONE), await user_id(db, B_PHONE)])


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
async def test_api_public_shop_is_read_only(
    client: httpx.AsyncClient, db: Database, a: Merchant, b: dict[str, str], method: str
) -> None:
    before = await shop_rows(db)
    response = await client.request(
        method, f"/api/v1/shops/{A_SLUG}", headers=b, json={"name": "B 改的"}
    )
    api_error(response, 405, "method_not_allowed")
    assert await shop_rows(db) == before


async def test_api_public_shop_shows_nothing_about_the_owner(
    client: httpx.AsyncClient, a: Merchant, b: dict[str, str]
) -> None:
    for headers in (b, {}):
        shop = await client.get(f"/api/v1/shops/{A_SLUG}", headers=headers)
        assert shop.status_code == 200
        # What the storefront shows buyers, customer service included; never the return
        # address (after-sales gives it), nor anything of the owner's.
        assert set(shop.json()) == {
            "id",
            "slug",
            "name",
            "description",
            "logo_url",
            "url",
            "qr_svg_url",
            "qr_png_url",
            "created_at",
            "service_phone",
            "wechat_id",
            "business_hours",
        }
        # The timestamp's digits aside, which a card's last four can happen to match.
        shown = shop.text.replace(shop.json()["created_at"], "")
        for secret in (A_PHONE, A_NAME, a.id_number, a.card_number, a.card_number[-4:]):
            assert secret not in shown
    api_error(await client.get("/api/v1/shops/no-such-shop"), 404, "shop_not_found")


async def test_api_public_shop_shows_its_customer_service(
    client: httpx.AsyncClient, a: Merchant, b: dict[str, str]
) -> None:
    service_contact = {
        "service_phone": "13700137000",
        "wechat_id": "a_ming_shop",
        "business_hours": "周一至周五 9:00-18:00",
        "return_address": "浙江省杭州市西湖区文三路 90 号 王小明",
    }
    saved = await client.put("/api/v1/me/shop", json=service_contact, headers=a.auth)
    assert saved.status_code == 200, saved.text
    for headers in (b, {}):
        shop = (await client.get(f"/api/v1/shops/{A_SLUG}", headers=headers)).json()
        assert (shop["service_phone"], shop["wechat_id"], shop["business_hours"]) == (
            "+8613700137000",
            "a_ming_shop",
            "周一至周五 9:00-18:00",
        )
        assert "return_address" not in shop
        assert "文三路" not in str(shop)


async def test_api_logout_of_a_leaves_b_logged_in(
    client: httpx.AsyncClient, a: Merchant, b: dict[str, str]
) -> None:
    assert (await client.delete("/api/v1/auth/tokens/current", headers=a.auth)).status_code == 204
    api_error(await client.get("/api/v1/me", headers=a.auth), 401, "not_authenticated")
    me = await client.get("/api/v1/me", headers=b)
    assert me.status_code == 200
    assert me.json()["phone"] == "+86" + B_PHONE


# --- HTML pages ---------------------------------------------------------------------------------


async def test_pages_b_console_shows_b_never_a(
    client: httpx.AsyncClient, app: FastAPI, a: Merchant
) -> None:
    async with other_client(app) as browser_b:
        assert (await page_login(browser_b, app, B_PHONE)).status_code == 303
        console = await browser_b.get("/console")
        assert console.status_code == 303
        assert console.headers["location"] == "/onboarding"
        onboarding = await browser_b.get("/onboarding")
        assert onboarding.status_code == 200
        assert 'action="/onboarding/identity"' in onboarding.text
        for text in (A_SHOP, A_NAME, A_SLUG):
            assert text not in onboarding.text

        token = await csrf_for(browser_b, "/onboarding")
        steps = [
            ("/onboarding/identity", {"real_name": B_NAME, "id_number": id_number_b()}),
            (
                "/onboarding/bank-card",
                {"holder_name": B_NAME, "card_number": card_number(), "bank": "CMB"},
            ),
            ("/onboarding/shop", {"name": "雷雷的店"}),
        ]
        for path, data in steps:
            done = await browser_b.post(path, data=data | {"csrf_token": token})
            assert done.status_code == 303, done.text
        console = await browser_b.get("/console")
        assert console.status_code == 200
        assert "雷雷的店" in console.text
        assert "/s/lei-lei-de-dian" in console.text
        for text in (A_SHOP, A_SLUG, A_NAME):
            assert text not in console.text

        # B on A's public page is a visitor, not the owner.
        public = await browser_b.get(f"/s/{A_SLUG}")
        assert public.status_code == 200
        assert A_SHOP in public.text
        assert tr("Manage this shop") not in public.text

    # A's own console is still A's.
    clock.advance(timedelta(seconds=61))
    async with other_client(app) as browser_a:
        assert (await page_login(browser_a, app, A_PHONE)).status_code == 303
        console = await browser_a.get("/console")
        assert A_SHOP in console.text
        assert "雷雷的店" not in console.text
        assert tr("Manage this shop") in (await browser_a.get(f"/s/{A_SLUG}")).text


def id_number_b() -> str:
    return id_number(years_before(clock.now().date(), 28), area="310101", sequence="456")


async def test_pages_b_cookie_cannot_post_to_a(
    client: httpx.AsyncClient, app: FastAPI, db: Database, a: Merchant
) -> None:
    """A step posted with B's cookie is B's step, even with A's data in the form."""
    before = await shop_rows(db)
    async with other_client(app) as browser_b:
        assert (await page_login(browser_b, app, B_PHONE)).status_code == 303
        token = await csrf_for(browser_b, "/onboarding")
        response = await browser_b.post(
            "/onboarding/bank-card",
            data={
                "holder_name": A_NAME,
                "card_number": a.card_number,
                "bank": "CMB",
                "csrf_token": token,
            },
        )
        assert response.status_code == 409
        assert page_alert(response.text)[0] == "step_out_of_order"
        assert 'action="/onboarding/identity"' in response.text  # B's own step is due
        assert A_SHOP not in response.text
    assert await shop_rows(db) == before
    owner = await user_id(db, A_PHONE)
    async with db.transaction(write=False) as s:
        assert list(await s.scalars(select(BankCard.user_id))) == [owner]


async def test_full_numbers_never_shown_after_they_are_stored(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A goes through every step on the pages and the API; no answer holds the numbers."""
    number, card = a_numbers()
    seen: list[httpx.Response] = []

    done = await page_login(client, app, A_PHONE, next_url="/onboarding")
    assert done.status_code == 303
    token = await csrf_for(client, "/onboarding")
    steps = [
        ("/onboarding/identity", {"real_name": A_NAME, "id_number": number}),
        ("/onboarding/bank-card", {"holder_name": A_NAME, "card_number": card, "bank": "ICBC"}),
        ("/onboarding/shop", {"name": A_SHOP}),
    ]
    for path, data in steps:
        posted = await client.post(path, data=data | {"csrf_token": token})
        assert posted.status_code == 303, posted.text
        seen.append(posted)
        seen.append(await client.get(posted.headers["location"], follow_redirects=True))
    for path in ("/", "/console", "/onboarding", f"/s/{A_SLUG}", "/login"):
        seen.append(await client.get(path, follow_redirects=True))

    clock.advance(timedelta(seconds=61))
    auth = await api_login(client, app, A_PHONE)
    for path in ("/api/v1/me", "/api/v1/onboarding", "/api/v1/me/shop", f"/api/v1/shops/{A_SLUG}"):
        seen.append(await client.get(path, headers=auth))
    state = seen[-3].json()
    assert state["identity"]["id_number_masked"] == f"{number[0]}{'*' * 16}{number[-1]}"
    assert state["bank_card"]["last4"] == card[-4:]

    async with other_client(app) as stranger:
        for path in (f"/s/{A_SLUG}", f"/api/v1/shops/{A_SLUG}", "/dev/sms"):
            seen.append(await stranger.get(path))

    assert len(seen) == 18
    for response in seen:
        assert response.status_code in (200, 303), (response.url, response.status_code)
        for secret in (number, card, number[:14], card[:12]):
            assert secret not in response.text, response.url
