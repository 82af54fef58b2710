"""Signing in with an Official Account's web authorisation, and the JS-SDK signature, against a
local fake of WeChat written from WeChat's documentation: the round trip from the authorisation
link to the user's profile, codes good once and for five minutes, the scope's limits, the state
that guards the callback, every failure taken for what it means, and jsapi_tickets kept,
renewed and re-fetched with a fresh access token."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pocketshop import clock
from pocketshop.accounts.wechat import (
    JsapiTickets,
    Scope,
    ScopeRefused,
    SignInAgain,
    StateRefused,
    WebAuthorization,
    WeChatProfile,
    authorize_url,
    check_state,
    jsapi_signature,
    make_state,
    new_nonce,
    wx_config,
)
from pocketshop.wechat import AccessTokens, WeChatMisconfigured, WeChatUnavailable
from tests.accounts.fake_wechat_mp import (
    APPID,
    SECRET,
    AuthorizePageError,
    FakeOfficialAccount,
)
from tests.notifications.fake_wechat import Failure

OPENID = "oTmHYjg6Qv4Tz4QxXs0NoYp3Lk2E"
UNIONID = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
AVATAR = "https://thirdwx.qlogo.cn/mmopen/g3MonUZtNHkdmzicIlibx6iaFqAc56vxLSUfpb6n5WKSYVY0/46"
CALLBACK = "https://shop.example.com/wechat/callback?next=/s/tea"
KEY = "the app's secret key"
PAGE = "https://shop.example.com/s/tea/p/42?from=chat&x=a b"
SETTINGS = ("POCKETSHOP_WECHAT_MP_APP_ID", "POCKETSHOP_WECHAT_MP_APP_SECRET")


@pytest.fixture
def fake() -> FakeOfficialAccount:
    wechat = FakeOfficialAccount()
    wechat.add_user(OPENID, "小茶", AVATAR, UNIONID)
    return wechat


@pytest.fixture
async def http(fake: FakeOfficialAccount) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield client


@pytest.fixture
def oauth(http: httpx.AsyncClient) -> WebAuthorization:
    return WebAuthorization(appid=APPID, secret=SECRET, http=http, setting_names=SETTINGS)


@pytest.fixture
def tickets(http: httpx.AsyncClient) -> JsapiTickets:
    return JsapiTickets(AccessTokens(APPID, SECRET, http), http)


def callback(redirected: str) -> tuple[str, str, dict[str, str]]:
    """The redirect's address, and its query."""
    parts = urlsplit(redirected)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}", parts.path, query


async def code_for(
    fake: FakeOfficialAccount, scope: Scope = Scope.userinfo, *, snapshot: bool = False
) -> str:
    url = authorize_url(APPID, CALLBACK, scope, "s1")
    return callback(fake.approve(url, OPENID, snapshot=snapshot))[2]["code"]


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


# Web authorisation.


async def test_a_user_signs_in_and_their_profile_is_read(
    fake: FakeOfficialAccount, oauth: WebAuthorization
) -> None:
    nonce = new_nonce()
    state = make_state(KEY, nonce)
    url = oauth.authorize_url(CALLBACK, Scope.userinfo, state)

    origin, path, query = callback(fake.approve(url, OPENID))
    assert (origin, path) == ("https://shop.example.com", "/wechat/callback")
    assert query["next"] == "/s/tea"  # the callback's own query survives
    assert query["state"] == state
    check_state(KEY, query["state"], nonce)
    grant = await oauth.exchange(query["code"])

    assert (grant.openid, grant.scope, grant.unionid) == (OPENID, "snsapi_userinfo", UNIONID)
    assert grant.expires_in == 7200
    assert not grant.is_snapshotuser
    assert grant.access_token not in repr(grant)  # tokens stay out of logs
    exchange = fake.calls_to("/sns/oauth2/access_token")[0]
    assert exchange.method == "GET"
    assert exchange.query == {
        "appid": APPID,
        "secret": SECRET,
        "code": query["code"],
        "grant_type": "authorization_code",
    }
    assert await oauth.userinfo(grant) == WeChatProfile(OPENID, "小茶", AVATAR, UNIONID)
    assert fake.calls_to("/sns/userinfo")[0].query["lang"] == "zh_CN"


def test_the_authorisation_link_is_written_as_the_docs_require() -> None:
    url = authorize_url(APPID, CALLBACK, "snsapi_base", "abc123")
    assert url == (
        f"https://open.weixin.qq.com/connect/oauth2/authorize?appid={APPID}"
        "&redirect_uri=https%3A%2F%2Fshop.example.com%2Fwechat%2Fcallback%3Fnext%3D%2Fs%2Ftea"
        "&response_type=code&scope=snsapi_base&state=abc123#wechat_redirect"
    )


@pytest.mark.parametrize(
    ("scope", "state", "complaint"),
    [
        # the website login's scope, not an Official Account's
        ("snsapi_login", "abc", "not a valid Scope"),
        ("snsapi_base", "a-b", "letters and digits"),
        ("snsapi_base", "x" * 129, "at most 128"),
    ],
)
def test_a_link_wechat_would_not_take_is_refused(scope: str, state: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        authorize_url(APPID, CALLBACK, scope, state)


async def test_snsapi_base_gives_the_openid_and_no_profile(
    fake: FakeOfficialAccount, oauth: WebAuthorization
) -> None:
    grant = await oauth.exchange(await code_for(fake, Scope.base))

    assert (grant.openid, grant.scope) == (OPENID, "snsapi_base")
    assert grant.unionid is None  # only with snsapi_userinfo
    with pytest.raises(ScopeRefused, match="48001"):
        await oauth.userinfo(grant)


async def test_a_code_works_once(fake: FakeOfficialAccount, oauth: WebAuthorization) -> None:
    code = await code_for(fake)
    await oauth.exchange(code)

    with pytest.raises(SignInAgain, match="40163"):
        await oauth.exchange(code)


async def test_a_code_works_for_five_minutes(
    fake: FakeOfficialAccount, oauth: WebAuthorization
) -> None:
    late, in_time = await code_for(fake), await code_for(fake)
    clock.advance(timedelta(minutes=4, seconds=59))
    await oauth.exchange(in_time)

    clock.advance(timedelta(seconds=1))
    with pytest.raises(SignInAgain, match="40029"):
        await oauth.exchange(late)


@pytest.mark.parametrize(("code", "errcode"), [("not-a-code", "40029"), ("", "41008")])
async def test_an_unknown_or_missing_code_asks_to_sign_in_again(
    oauth: WebAuthorization, code: str, errcode: str
) -> None:
    with pytest.raises(SignInAgain, match=errcode):
        await oauth.exchange(code)


async def test_a_snapshot_pages_virtual_account_is_said(
    fake: FakeOfficialAccount, oauth: WebAuthorization
) -> None:
    grant = await oauth.exchange(await code_for(fake, snapshot=True))
    assert grant.is_snapshotuser


async def test_an_expired_grant_asks_to_sign_in_again(
    fake: FakeOfficialAccount, oauth: WebAuthorization
) -> None:
    grant = await oauth.exchange(await code_for(fake))
    clock.advance(timedelta(hours=2))

    with pytest.raises(SignInAgain, match="42001"):
        await oauth.userinfo(grant)


async def test_a_wrong_secret_is_said_once_for_the_operator(
    fake: FakeOfficialAccount, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    oauth = WebAuthorization(
        appid=APPID, secret="not-the-secret", http=http, setting_names=SETTINGS
    )
    for _ in range(3):
        with pytest.raises(WeChatMisconfigured, match="40125"):
            await oauth.exchange(await code_for(fake))

    assert len(errors(caplog)) == 1
    assert "POCKETSHOP_WECHAT_MP_APP_SECRET" in errors(caplog)[0].getMessage()
    assert "not-the-secret" not in caplog.text


@pytest.mark.parametrize(("errcode", "setting"), [(40013, "APP_ID"), (48001, "web authorisation")])
async def test_an_account_wechat_refuses_waits_for_the_operator(
    fake: FakeOfficialAccount,
    oauth: WebAuthorization,
    caplog: pytest.LogCaptureFixture,
    errcode: int,
    setting: str,
) -> None:
    fake.fail_next("oauth", errcode)
    with pytest.raises(WeChatMisconfigured, match=str(errcode)):
        await oauth.exchange(await code_for(fake))
    assert setting in errors(caplog)[0].getMessage()


# 40099: an errcode these APIs do not document, taken for "try again".
@pytest.mark.parametrize("failure", [-1, 45011, 40099, "http500", "timeout", "connect"])
async def test_when_wechat_cannot_answer_the_user_tries_again(
    fake: FakeOfficialAccount,
    oauth: WebAuthorization,
    caplog: pytest.LogCaptureFixture,
    failure: Failure,
) -> None:
    code = await code_for(fake)
    fake.fail_next("oauth", failure)
    with pytest.raises(WeChatUnavailable) as raised:
        await oauth.exchange(code)
    assert not isinstance(raised.value, WeChatMisconfigured)
    assert errors(caplog) == []

    grant = await oauth.exchange(code)  # WeChat never took it: it still works
    fake.fail_next("userinfo", failure)
    with pytest.raises(WeChatUnavailable):
        await oauth.userinfo(grant)
    assert (await oauth.userinfo(grant)).nickname == "小茶"


@pytest.mark.parametrize(
    "answer",
    [{}, {"openid": OPENID, "expires_in": 7200}, {"access_token": "t", "openid": OPENID}],
)
async def test_an_answer_without_the_grant_is_try_again(answer: dict[str, object]) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    async with httpx.AsyncClient(transport=transport) as http:
        oauth = WebAuthorization(appid=APPID, secret=SECRET, http=http)
        with pytest.raises(WeChatUnavailable, match="no openid or access_token"):
            await oauth.exchange("c")


# State.


def test_a_state_is_good_for_its_browser_and_ten_minutes() -> None:
    nonce = new_nonce()
    state = make_state(KEY, nonce)
    assert len(state) <= 128
    assert state.isascii()
    assert state.isalnum()

    clock.advance(timedelta(minutes=10))
    check_state(KEY, state, nonce)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(StateRefused, match="too long"):
        check_state(KEY, state, nonce)


def test_a_shorter_life_can_be_asked_for() -> None:
    nonce = new_nonce()
    state = make_state(KEY, nonce)
    clock.advance(timedelta(minutes=2))
    with pytest.raises(StateRefused, match="too long"):
        check_state(KEY, state, nonce, max_age=timedelta(minutes=1))


def test_a_state_for_another_browser_is_refused() -> None:
    state = make_state(KEY, new_nonce())
    with pytest.raises(StateRefused, match="another browser"):
        check_state(KEY, state, new_nonce())


def test_a_state_signed_with_another_key_is_refused() -> None:
    nonce = new_nonce()
    with pytest.raises(StateRefused, match="forged"):
        check_state(KEY, make_state("another key", nonce), nonce)


def test_a_state_with_its_time_moved_is_refused() -> None:
    nonce = new_nonce()
    state = make_state(KEY, nonce)
    clock.advance(timedelta(hours=1))
    moved = f"{int(clock.now().timestamp()):08x}" + state[8:]  # made to look fresh
    with pytest.raises(StateRefused, match="forged"):
        check_state(KEY, moved, nonce)


@pytest.mark.parametrize("state", ["", "abc", "Z" * 72, "0" * 71])
def test_what_is_no_state_at_all_is_refused(state: str) -> None:
    with pytest.raises(StateRefused, match="no state"):
        check_state(KEY, state, new_nonce())


def test_a_browser_without_a_nonce_is_refused() -> None:
    state = make_state(KEY, "n1")
    with pytest.raises(StateRefused):
        check_state(KEY, state, "")
    with pytest.raises(ValueError, match="nonce"):
        make_state(KEY, "")


# JS-SDK.


def test_the_docs_signature_example() -> None:
    # JS-SDK.html, 附录1: the example's four values and its signature.
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    url = "http://mp.weixin.qq.com?params=value"
    signature = jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, url)
    assert signature == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    assert wx_config("wxappid", ticket, url, "Wm3WZYTPz0wzccnW", 1414587457) == {
        "appId": "wxappid",
        "timestamp": 1414587457,
        "nonceStr": "Wm3WZYTPz0wzccnW",
        "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed",
    }


def test_the_url_is_signed_without_its_fragment_and_unescaped() -> None:
    plain = jsapi_signature("t", "n", 1, "https://shop.example.com/s/tea?x=a b")
    assert jsapi_signature("t", "n", 1, "https://shop.example.com/s/tea?x=a b#/cart") == plain
    assert jsapi_signature("t", "n", 1, "https://shop.example.com/s/tea?x=a%20b") != plain


async def test_many_pages_share_one_ticket(
    fake: FakeOfficialAccount, tickets: JsapiTickets
) -> None:
    fake.ticket_delay = 0.02
    concurrent = await asyncio.gather(*(tickets.current() for _ in range(10)))
    configs = [
        wx_config(APPID, await tickets.current(), f"{PAGE}#{n}", f"nonce{n}", 1700000000 + n)
        for n in range(10)
    ]

    assert len(set(concurrent)) == 1
    assert fake.ticket_fetches == 1
    assert fake.token_fetches == 1
    for n, config in enumerate(configs):
        assert fake.check_wx_config(config, f"{PAGE}#{n}") == "config:ok"
    assert fake.check_wx_config(configs[0], "https://elsewhere.example.com/") == (
        "config:invalid url domain"
    )
    assert fake.check_wx_config(configs[0] | {"nonceStr": "other"}, PAGE) == (
        "config:invalid signature"
    )


async def test_the_ticket_is_used_to_its_end_and_then_renewed(
    fake: FakeOfficialAccount, tickets: JsapiTickets
) -> None:
    def config(ticket: str) -> dict[str, str | int]:
        return wx_config(APPID, ticket, PAGE, "n", int(clock.now().timestamp()))

    first = await tickets.current()
    clock.advance(timedelta(seconds=7200 - 300 - 1))
    assert await tickets.current() == first
    assert fake.ticket_fetches == 1

    clock.advance(timedelta(seconds=2))  # within 5 minutes of its end: asked for again
    assert await tickets.current() == first  # WeChat has no newer one yet
    assert fake.ticket_fetches == 2
    clock.advance(timedelta(seconds=290))
    assert fake.check_wx_config(config(await tickets.current()), PAGE) == "config:ok"
    assert fake.ticket_fetches == 2  # kept to its end, not asked for at every page

    clock.advance(timedelta(seconds=10))  # past its 7200 s
    second = await tickets.current()
    assert second != first
    assert fake.ticket_fetches == 3
    assert fake.check_wx_config(config(second), PAGE) == "config:ok"
    clock.advance(timedelta(seconds=7200 - 300 - 1))
    assert await tickets.current() == second  # the new one is kept for its whole life
    assert fake.ticket_fetches == 3


async def test_a_refused_access_token_is_replaced_once(
    fake: FakeOfficialAccount, http: httpx.AsyncClient
) -> None:
    tokens = AccessTokens(APPID, SECRET, http)
    await tokens.current()
    fake.revoke_tokens()  # someone forced a refresh, or reset the secret

    ticket = await JsapiTickets(tokens, http).current()

    asked = fake.calls_to("/cgi-bin/ticket/getticket")
    assert len(asked) == 2
    assert asked[0].query["access_token"] != asked[1].query["access_token"]
    assert fake.token_fetches == 2
    assert fake.check_wx_config(wx_config(APPID, ticket, PAGE, "n", 1), PAGE) == "config:ok"


async def test_a_fresh_access_token_refused_too_is_not_retried_again(
    fake: FakeOfficialAccount, tickets: JsapiTickets
) -> None:
    fake.fail_next("ticket", 40001, 42001)
    with pytest.raises(WeChatUnavailable, match="fresh access token"):
        await tickets.current()
    assert fake.ticket_fetches == 2


@pytest.mark.parametrize("failure", [-1, "http500", "timeout", "connect"])
async def test_a_ticket_wechat_cannot_give_now_is_asked_for_again_later(
    fake: FakeOfficialAccount, tickets: JsapiTickets, failure: Failure
) -> None:
    fake.fail_next("ticket", failure)
    with pytest.raises(WeChatUnavailable):
        await tickets.current()
    assert await tickets.current()
    assert fake.ticket_fetches == 2


# The fake itself, on the points the adapter's tests rest on.


@pytest.mark.parametrize(
    ("url", "number"),
    [
        (  # the parameters out of the docs' order
            f"https://open.weixin.qq.com/connect/oauth2/authorize?redirect_uri=https%3A%2F%2F"
            f"shop.example.com%2Fcb&appid={APPID}&response_type=code&scope=snsapi_base"
            "&state=s#wechat_redirect",
            None,
        ),
        (  # no #wechat_redirect
            f"https://open.weixin.qq.com/connect/oauth2/authorize?appid={APPID}&redirect_uri="
            "https%3A%2F%2Fshop.example.com%2Fcb&response_type=code&scope=snsapi_base&state=s",
            None,
        ),
        (  # redirect_uri left raw
            f"https://open.weixin.qq.com/connect/oauth2/authorize?appid={APPID}&redirect_uri="
            "https://shop.example.com/cb&response_type=code&scope=snsapi_base&state=s"
            "#wechat_redirect",
            None,
        ),
        (authorize_url(APPID, "https://elsewhere.example.com/cb", "snsapi_base", "s"), 10003),
    ],
)
def test_the_fakes_authorisation_page_refuses_links_wechat_refuses(
    fake: FakeOfficialAccount, url: str, number: int | None
) -> None:
    with pytest.raises(AuthorizePageError) as refused:
        fake.approve(url, OPENID)
    assert refused.value.number == number


async def test_the_fakes_web_token_is_for_its_user_only(
    fake: FakeOfficialAccount, oauth: WebAuthorization, http: httpx.AsyncClient
) -> None:
    grant = await oauth.exchange(await code_for(fake))
    answer = await http.get(
        "https://api.weixin.qq.com/sns/userinfo",
        params={"access_token": grant.access_token, "openid": "oSomeoneElse"},
    )
    assert answer.json()["errcode"] == 40003
