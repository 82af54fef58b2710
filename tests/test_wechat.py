"""What every WeChat API call shares (`pocketshop.wechat`), against the local fake of WeChat's
token API written from WeChat's documentation: the access token fetched once, kept until five
minutes before it expires, fetched once at a time, forgotten when refused; the app's own
settings refused said once for the operator; and every answer that is not a clear JSON object
taken for "later"."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest

from pocketshop import clock
from pocketshop.wechat import (
    AccessTokens,
    WeChatMisconfigured,
    WeChatUnavailable,
    errcode,
    get_json,
    post_json,
)
from tests.notifications.fake_wechat import APPID, SECRET, Failure, FakeWeChat

URL = "https://api.weixin.qq.com"


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
async def http(fake: FakeWeChat) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield client


@pytest.fixture
def tokens(http: httpx.AsyncClient) -> AccessTokens:
    return AccessTokens(APPID, SECRET, http, setting_names=("THE_APP_ID", "THE_APP_SECRET"))


def answering(respond: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(respond))


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_token_is_kept_until_five_minutes_before_it_expires(
    fake: FakeWeChat, tokens: AccessTokens
) -> None:
    first = await tokens.current()
    # The fake answers the whole seconds left ("expires_in": 7199 a moment after issuing).
    clock.advance(timedelta(seconds=7200 - 300 - 10))
    assert await tokens.current() == first
    assert fake.token_fetches == 1

    clock.advance(timedelta(seconds=12))
    second = await tokens.current()
    assert second != first  # the stable API's next token, handed out in the old one's last 5 min
    assert fake.token_fetches == 2
    body = fake.calls[-1].body
    assert body == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": False,  # never the forced mode, which invalidates everyone's token
    }


async def test_concurrent_callers_share_one_fetch(fake: FakeWeChat, tokens: AccessTokens) -> None:
    fake.token_delay = 0.02
    got = await asyncio.gather(*(tokens.current() for _ in range(20)))
    assert len(set(got)) == 1
    assert fake.token_fetches == 1


async def test_concurrent_callers_share_a_failed_fetch_too(
    fake: FakeWeChat, tokens: AccessTokens
) -> None:
    fake.token_delay = 0.02
    fake.fail_next("token", 40164)

    outcomes = await asyncio.gather(*(tokens.current() for _ in range(5)), return_exceptions=True)

    assert all(isinstance(outcome, WeChatMisconfigured) for outcome in outcomes)
    assert fake.token_fetches == 1
    assert await tokens.current()  # the next caller asks again
    assert fake.token_fetches == 2


async def test_a_refused_token_is_forgotten_and_only_that_one(
    fake: FakeWeChat, tokens: AccessTokens
) -> None:
    token = await tokens.current()
    tokens.forget("another token")  # already replaced by another caller: nothing to drop
    assert await tokens.current() == token
    assert fake.token_fetches == 1

    fake.revoke_tokens()
    tokens.forget(token)
    assert await tokens.current() != token
    assert fake.token_fetches == 2


async def test_settings_wechat_refuses_are_said_once_until_fixed(
    fake: FakeWeChat, tokens: AccessTokens, caplog: pytest.LogCaptureFixture
) -> None:
    fake.whitelisted = False
    for _ in range(3):
        with pytest.raises(WeChatMisconfigured, match="40164"):
            await tokens.current()
    assert len(errors(caplog)) == 1
    assert "IP whitelist" in errors(caplog)[0].getMessage()

    fake.whitelisted = True  # the operator added the server's address
    token = await tokens.current()
    fake.whitelisted = False  # and it breaks again, later
    fake.revoke_tokens()
    tokens.forget(token)
    with pytest.raises(WeChatMisconfigured):
        await tokens.current()
    assert len(errors(caplog)) == 2


async def test_a_wrong_secret_names_its_setting_and_never_the_secret(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = AccessTokens(
        APPID, "not-the-secret", http, setting_names=("THE_APP_ID", "THE_APP_SECRET")
    )
    with pytest.raises(WeChatMisconfigured, match="40125"):
        await tokens.current()
    assert "the app secret (THE_APP_SECRET) is wrong" in errors(caplog)[0].getMessage()
    assert "not-the-secret" not in caplog.text


@pytest.mark.parametrize("failure", [-1, 45009, "http500", "timeout", "connect"])
async def test_a_token_wechat_cannot_give_now_is_asked_for_again_later(
    fake: FakeWeChat,
    tokens: AccessTokens,
    failure: Failure,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.fail_next("token", failure)
    with pytest.raises(WeChatUnavailable) as raised:
        await tokens.current()
    assert not isinstance(raised.value, WeChatMisconfigured)
    assert errors(caplog) == []
    assert await tokens.current()


@pytest.mark.parametrize(
    ("response", "complaint"),
    [
        (httpx.Response(200, text="<html>busy</html>"), "not JSON"),
        (httpx.Response(200, json=["access_token"]), "not an object"),
        (httpx.Response(502, text="Bad Gateway"), "HTTP 502"),
        (httpx.Response(200, json={"expires_in": 7200}), "no access_token"),
        (httpx.Response(200, json={"access_token": "t", "expires_in": 0}), "no expires_in"),
        (httpx.Response(200, json={"access_token": "t", "expires_in": True}), "no expires_in"),
        (httpx.Response(200, json={"access_token": "t", "expires_in": "7200"}), "no expires_in"),
    ],
)
async def test_answers_that_are_not_clear_are_later(
    response: httpx.Response, complaint: str
) -> None:
    async with answering(lambda request: response) as http:
        with pytest.raises(WeChatUnavailable, match=complaint):
            await AccessTokens(APPID, SECRET, http).current()


async def test_a_short_lived_token_is_used_for_half_its_life() -> None:
    fetches: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        fetches.append(request)
        return httpx.Response(200, json={"access_token": f"t{len(fetches)}", "expires_in": 400})

    async with answering(respond) as http:
        tokens = AccessTokens(APPID, SECRET, http)
        assert await tokens.current() == "t1"
        clock.advance(timedelta(seconds=199))
        assert await tokens.current() == "t1"
        clock.advance(timedelta(seconds=2))
        assert await tokens.current() == "t2"


async def test_json_goes_as_utf8_and_queries_as_given() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    async with answering(respond) as http:
        await post_json(http, f"{URL}/x", {"thing1": "红围巾"}, params={"access_token": "t"})
        await get_json(http, f"{URL}/y", {"access_token": "t", "type": "jsapi"})

    posted, got = seen
    assert posted.content == '{"thing1": "红围巾"}'.encode()  # not \\u7ea2 escapes
    assert posted.headers["content-type"] == "application/json; charset=utf-8"
    assert posted.url.params["access_token"] == "t"
    assert got.method == "GET"
    assert dict(got.url.params) == {"access_token": "t", "type": "jsapi"}


@pytest.mark.parametrize(
    ("answer", "code"),
    [({}, 0), ({"errcode": 0}, 0), ({"errcode": 40001}, 40001), ({"errcode": "x"}, -1)],
)
def test_errcode_reads_success_failure_and_nonsense(answer: dict[str, object], code: int) -> None:
    assert errcode(answer) == code
