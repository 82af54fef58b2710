"""Signing in inside WeChat through the app's own routes, against the local fake of WeChat
(tests/accounts/fake_wechat_mp.py, written from WeChat's documentation): the silent round trip
from a shop link, the profile when the user agrees, a forged state or a reused code refused, a
snapshot page left a guest; the JS-SDK's configuration as wx.config would check it; binding a
phone (one account, merged into the phone's own when it had one); ordering and opening a shop
need a phone."""

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.accounts.models import User, WeChatIdentity
from pocketshop.accounts.wechat import sign_in_with
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders.models import Address, CartItem
from tests.accounts.fake_wechat_mp import APPID, SECRET, FakeOfficialAccount
from tests.commerce import (
    ADDRESS,
    api_token,
    make_buyer,
    make_merchant,
    make_product,
    next_phone,
    order_json,
)
from tests.conftest import BASE_URL
from tests.support import api_error, csrf_from, last_code, tr

WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI"
)
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari"
OPENID = "oTmHYjg6Qv4Tz4QxXs0NoYp3Lk2E"
OTHER_OPENID = "oTmHYjNEWCOMERx0NoYp3Lk2E99"


@pytest.fixture
def fake() -> FakeOfficialAccount:
    wechat = FakeOfficialAccount(domain=urlsplit(BASE_URL).hostname or "")
    wechat.add_user(OPENID, "小茶", "https://thirdwx.qlogo.cn/mmopen/g3Mo/46", "o6_union")
    wechat.add_user(OTHER_OPENID, "新朋友")
    return wechat


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"wechat_mp_app_id": APPID, "wechat_mp_app_secret": SECRET})


@pytest.fixture
async def wechat_app(app: FastAPI, fake: FakeOfficialAccount) -> FastAPI:
    runtime = app.state.runtime
    await runtime.wechat.http.aclose()
    runtime.wechat = sign_in_with(APPID, SECRET, httpx.AsyncClient(transport=fake.transport()))
    return app


@pytest.fixture
async def phone_client(wechat_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A phone inside WeChat."""
    transport = httpx.ASGITransport(app=wechat_app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers={"User-Agent": WECHAT}
    ) as http:
        yield http


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def to_wechat(client: httpx.AsyncClient, path: str) -> str:
    """Follow the app's redirects from `path` to WeChat's authorisation page."""
    answer = await client.get(path)
    while answer.status_code == 303 and not answer.headers["location"].startswith("https://open"):
        answer = await client.get(answer.headers["location"])
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def sign_in(
    client: httpx.AsyncClient, fake: FakeOfficialAccount, path: str, openid: str = OPENID
) -> httpx.Response:
    back = fake.approve(await to_wechat(client, path), openid)
    return await client.get(local(back))


async def identities(db: Database) -> list[tuple[int, str, str | None]]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(WeChatIdentity.user_id, WeChatIdentity.openid, WeChatIdentity.nickname)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def user_count(db: Database) -> int:
    async with db.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_a_shop_link_opened_in_wechat_signs_the_buyer_in_silently(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    merchant = await make_merchant(wechat_app)
    shop_path = f"/s/{merchant.shop.slug}"
    first = await phone_client.get(shop_path)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/wechat/signin?")

    authorize = await to_wechat(phone_client, shop_path)
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["snsapi_base"]  # silent: nothing asked
    assert query["redirect_uri"][0].startswith(f"{BASE_URL}/wechat/callback")

    back = await phone_client.get(local(fake.approve(authorize, OPENID)))
    assert back.status_code == 303
    assert back.headers["location"] == shop_path
    page = await phone_client.get(shop_path)
    assert page.status_code == 200
    assert 'action="/logout"' in page.text
    [(user_id, openid, nickname)] = await identities(db)
    assert (openid, nickname) == (OPENID, None)
    async with db.transaction(write=False) as session:
        user = await session.get(User, user_id)
        assert user is not None
        assert user.phone is None

    # Signing in again (another day, another browser) finds the same account.
    phone_client.cookies.clear()
    await sign_in(phone_client, fake, shop_path)
    assert len(await identities(db)) == 1
    assert await user_count(db) == 2


async def test_outside_wechat_or_once_tried_the_page_is_served_as_it_is(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(wechat_app)
    shop_path = f"/s/{merchant.shop.slug}"
    assert (await client.get(shop_path, headers={"User-Agent": SAFARI})).status_code == 200
    await to_wechat(phone_client, shop_path)  # went to WeChat, never came back
    assert (await phone_client.get(shop_path)).status_code == 200  # no loop


async def test_the_profile_is_kept_when_the_user_agrees(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    authorize = await to_wechat(phone_client, "/wechat/signin?scope=userinfo&next=/")
    assert parse_qs(urlsplit(authorize).query)["scope"] == ["snsapi_userinfo"]
    back = await phone_client.get(local(fake.approve(authorize, OPENID)))
    assert back.status_code == 303
    [(_user, openid, nickname)] = await identities(db)
    assert (openid, nickname) == (OPENID, "小茶")
    assert fake.calls_to("/sns/userinfo")


async def test_a_forged_state_or_a_reused_code_is_refused(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    authorize = await to_wechat(phone_client, "/wechat/signin?next=/")
    back = urlsplit(fake.approve(authorize, OPENID))
    query = {name: values[0] for name, values in parse_qs(back.query).items()}
    forged = await phone_client.get(
        "/wechat/callback", params={**query, "state": "0" * 8 + "f" * 64}
    )
    assert forged.status_code == 403
    assert tr("This WeChat sign-in did not start in this browser. Please try again.") in forged.text
    other_browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wechat_app), base_url=BASE_URL
    )
    async with other_browser:  # a link made for one browser, opened in another
        assert (await other_browser.get(local(back.geturl()))).status_code == 403
    assert await identities(db) == []

    assert (await phone_client.get(local(back.geturl()))).status_code == 303  # signed in
    phone_client.cookies.clear()
    again = urlsplit(fake.approve(await to_wechat(phone_client, "/wechat/signin?next=/"), OPENID))
    fresh_state = parse_qs(again.query)["state"][0]
    reused = await phone_client.get(
        "/wechat/callback", params={"code": query["code"], "state": fresh_state, "next": "/"}
    )
    assert reused.status_code == 403
    assert (
        tr("This WeChat sign-in was used already or has expired. Please try again.") in reused.text
    )
    assert "ps_session" not in reused.cookies


async def test_a_snapshot_page_stays_a_guest(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    authorize = await to_wechat(phone_client, "/wechat/signin?next=/")
    back = await phone_client.get(local(fake.approve(authorize, OPENID, snapshot=True)))
    assert back.status_code == 303
    assert "ps_session" not in back.cookies
    assert await identities(db) == []


async def test_wechat_being_down_is_said_not_a_crash(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount
) -> None:
    authorize = await to_wechat(phone_client, "/wechat/signin?next=/")
    fake.fail_next("oauth", -1)
    answer = await phone_client.get(local(fake.approve(authorize, OPENID)))
    assert answer.status_code == 502
    assert tr("WeChat did not answer. Please try again in a moment.") in answer.text


async def test_the_js_sdk_config_is_what_wx_config_accepts(
    wechat_app: FastAPI, client: httpx.AsyncClient, fake: FakeOfficialAccount
) -> None:
    page = f"{BASE_URL}/s/tea/p/42?from=chat"
    answer = await client.get("/api/v1/wechat/js-config", params={"url": page + "#share"})
    assert answer.status_code == 200, answer.text
    config = answer.json()
    assert fake.check_wx_config(config, page) == "config:ok"
    assert config["jsApiList"] == ["updateAppMessageShareData", "updateTimelineShareData"]
    # The ticket is kept: the next page signs without asking WeChat again.
    await client.get("/api/v1/wechat/js-config", params={"url": f"{BASE_URL}/s/tea"})
    assert fake.ticket_fetches == 1

    elsewhere = await client.get(
        "/api/v1/wechat/js-config", params={"url": "https://evil.example/s/tea"}
    )
    api_error(elsewhere, 422, "url_not_ours")


async def test_without_an_official_account_there_is_no_wechat(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await app.state.runtime.wechat.http.aclose()
    app.state.runtime.wechat = None  # as a server without POCKETSHOP_WECHAT_MP_APP_ID runs
    api_error(
        await client.get("/api/v1/wechat/js-config", params={"url": f"{BASE_URL}/"}),
        404,
        "wechat_off",
    )
    assert (await client.get("/wechat/signin?next=/")).status_code == 404


async def bind(
    client: httpx.AsyncClient, app: FastAPI, phone: str, next_url: str
) -> httpx.Response:
    form = await client.get(f"/me/phone?next={next_url}")
    assert form.status_code == 200, form.text
    sent = await client.post(
        "/me/phone/code",
        data={"phone": phone, "next": next_url, "csrf_token": csrf_from(form.text)},
    )
    assert sent.status_code == 200, sent.text
    return await client.post(
        "/me/phone/login",
        data={
            "phone": phone,
            "code": last_code(app, phone),
            "next": next_url,
            "csrf_token": csrf_from(sent.text),
        },
    )


async def test_ordering_asks_for_a_phone_which_then_is_theirs(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    merchant = await make_merchant(wechat_app)
    await sign_in(phone_client, fake, f"/s/{merchant.shop.slug}")
    [(user_id, _openid, _nickname)] = await identities(db)
    async with db.transaction(write=False) as session:
        user = await session.get(User, user_id)
    assert user is not None
    auth = await api_token(db, wechat_app.state.settings, user)
    sku = (await make_product(wechat_app, merchant.shop)).skus[0]
    order = order_json(merchant.shop, [(sku, 1)])
    api_error(
        await phone_client.post("/api/v1/orders", json=order, headers=auth), 403, "phone_required"
    )
    checkout = await phone_client.get(f"/s/{merchant.shop.slug}/checkout")
    assert checkout.status_code in (200, 303)

    phone = next_phone()
    bound = await bind(phone_client, wechat_app, phone, "/me/orders")
    assert bound.status_code == 303
    assert bound.headers["location"] == "/me/orders"
    async with db.transaction(write=False) as session:
        user = await session.get(User, user_id)
        assert user is not None
        assert user.phone == phone
    placed = await phone_client.post("/api/v1/orders", json=order, headers=auth)
    assert placed.status_code == 201, placed.text


async def test_binding_a_phone_that_has_an_account_makes_one_account(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    merchant = await make_merchant(wechat_app)
    sku = (await make_product(wechat_app, merchant.shop)).skus[0]
    known = await make_buyer(wechat_app)  # ordered before, from a phone's browser
    await sign_in(phone_client, fake, f"/s/{merchant.shop.slug}", OTHER_OPENID)
    [(wechat_user_id, _openid, _nickname)] = await identities(db)
    async with db.transaction() as session:  # what they did while signed in with WeChat
        now = clock.now()
        session.add(
            CartItem(
                user_id=wechat_user_id,
                shop_id=merchant.shop.id,
                sku_id=sku.id,
                quantity=2,
                added_at=now,
            )
        )
        session.add(Address(user_id=wechat_user_id, is_default=True, created_at=now, **ADDRESS))

    assert known.user.phone is not None
    bound = await bind(phone_client, wechat_app, known.user.phone, "/me/orders")
    assert bound.status_code == 303, bound.text
    async with db.transaction(write=False) as session:
        assert await session.get(User, wechat_user_id) is None  # one account: the phone's
        openids = await session.scalars(
            select(WeChatIdentity.openid).where(WeChatIdentity.user_id == known.user.id)
        )
        assert list(openids) == [OTHER_OPENID]
        cart = await session.scalars(
            select(CartItem.quantity).where(CartItem.user_id == known.user.id)
        )
        assert list(cart) == [2]
        moved = await session.scalars(select(Address.user_id))
        assert list(moved) == [known.user.id]
    orders = await phone_client.get("/me/orders")
    assert orders.status_code == 200  # signed in as the phone's account now
    # Signing in with WeChat again lands in the same, single account.
    phone_client.cookies.clear()
    await sign_in(phone_client, fake, "/wechat/signin?next=/", OTHER_OPENID)
    assert await user_count(db) == 2


async def test_a_phone_linked_to_another_wechat_is_refused_and_nothing_changes(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    known = await make_buyer(wechat_app)
    async with db.transaction() as session:
        session.add(
            WeChatIdentity(
                user_id=known.user.id, appid=APPID, openid=OPENID, created_at=clock.now()
            )
        )
    await sign_in(phone_client, fake, "/wechat/signin?next=/", OTHER_OPENID)
    assert known.user.phone is not None
    refused = await bind(phone_client, wechat_app, known.user.phone, "/")
    assert refused.status_code == 409
    assert tr("This phone number's account is linked to another WeChat account.") in refused.text
    assert await user_count(db) == 2
    assert len(await identities(db)) == 2


async def test_opening_a_shop_asks_for_a_phone_first(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount
) -> None:
    await sign_in(phone_client, fake, "/wechat/signin?next=/", OPENID)
    answer = await phone_client.get("/onboarding")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me/phone?next=/onboarding"


async def test_the_login_page_inside_wechat_signs_in_with_wechat(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient
) -> None:
    answer = await phone_client.get("/login?next=/me/orders")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/wechat/signin?next=%2Flogin")


async def test_an_account_that_ordered_does_not_join_another(
    wechat_app: FastAPI, phone_client: httpx.AsyncClient, fake: FakeOfficialAccount, db: Database
) -> None:
    """Ordering needs a phone, so a phoneless account has no orders; one that has (a phone
    taken off it by hand, say) keeps them: binding the phone of another account is refused."""
    merchant = await make_merchant(wechat_app)
    sku = (await make_product(wechat_app, merchant.shop)).skus[0]
    known = await make_buyer(wechat_app)
    await sign_in(phone_client, fake, "/wechat/signin?next=/", OTHER_OPENID)
    [(user_id, _openid, _nickname)] = await identities(db)
    first_phone = next_phone()
    assert (await bind(phone_client, wechat_app, first_phone, "/")).status_code == 303
    refused = await bind_again(phone_client)
    assert refused.status_code == 409  # a phone already: nothing to bind

    async with db.transaction(write=False) as session:
        user = await session.get(User, user_id)
    assert user is not None
    auth = await api_token(db, wechat_app.state.settings, user)
    placed = await phone_client.post(
        "/api/v1/orders", json=order_json(merchant.shop, [(sku, 1)]), headers=auth
    )
    assert placed.status_code == 201
    async with db.transaction() as session:
        (await session.get(User, user_id)).phone = None  # type: ignore[union-attr]

    assert known.user.phone is not None
    answer = await bind(phone_client, wechat_app, known.user.phone, "/")
    assert answer.status_code == 409
    assert (
        tr("This account has orders or a shop of its own: it cannot join another.") in answer.text
    )
    assert len(await identities(db)) == 1
    async with db.transaction(write=False) as session:
        assert await session.get(User, user_id) is not None


async def bind_again(client: httpx.AsyncClient) -> httpx.Response:
    page = await client.get("/")
    return await client.post(
        "/me/phone/login",
        data={"phone": next_phone(), "code": "123456", "csrf_token": csrf_from(page.text)},
    )
