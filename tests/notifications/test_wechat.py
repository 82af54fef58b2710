"""The WeChat subscription-message channel against a local fake of WeChat's API (written from
WeChat's documentation): messages arrive as the protocol says, the access token is fetched once
and again when it expires or is revoked, concurrent sends share one fetch, and every answer is
taken for what it means: delivered, never deliverable, or to be tried again later."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.notifications.channels import (
    ConsoleWeChat,
    Message,
    NotDeliveredYet,
    Undeliverable,
)
from pocketshop.notifications.setup import make_wechat
from pocketshop.notifications.wechat import (
    WeChatMessages,
    WeChatTemplate,
    fit,
    parse_templates,
)
from tests.notifications.fake_wechat import APPID, SECRET, Failure, FakeWeChat, follows_rule

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
PAID = "tpl-order-paid"
SHIPPED = "tpl-order-shipped"
TEMPLATES = {
    "order_paid": WeChatTemplate(
        PAID,
        {"character_string1": "number", "amount2": "amount", "thing3": "title", "time4": "time"},
    ),
    "order_shipped": WeChatTemplate(
        SHIPPED,
        {
            "character_string1": "number",
            "thing2": "shop",
            "phrase3": "status",
            "name4": "carrier",
            "number5": "count",
            "date6": "time",
            "letter7": "code",
            "symbol8": "mark",
            "phone_number9": "phone",
        },
    ),
}


def paid(**values: str) -> Message:
    return Message(
        event="order_paid",
        title="New paid order",
        body="Order 2026120400017 was paid: ¥12.00. Ship it soon.",
        link="/console/orders/2026120400017",
        values={
            "number": "2026120400017",
            "amount": "¥12.00",
            "title": "Red scarf",
            "time": "2026-12-04 14:00",
        }
        | values,
    )


@pytest.fixture
def fake() -> FakeWeChat:
    wechat = FakeWeChat()
    wechat.add_template(PAID, "character_string1", "amount2", "thing3", "time4")
    wechat.add_template(
        SHIPPED,
        "character_string1",
        "thing2",
        "phrase3",
        "name4",
        "number5",
        "date6",
        "letter7",
        "symbol8",
        "phone_number9",
    )
    wechat.subscribe(OPENID, PAID)  # long-term
    wechat.subscribe(OPENID, SHIPPED)
    return wechat


@pytest.fixture
async def http(fake: FakeWeChat) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield client


@pytest.fixture
def wechat(http: httpx.AsyncClient) -> WeChatMessages:
    return WeChatMessages(appid=APPID, secret=SECRET, http=http, templates=TEMPLATES)


async def test_a_message_arrives_as_the_protocol_says(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    await wechat.deliver(OPENID, paid())

    assert fake.accepted == [
        {
            "touser": OPENID,
            "template_id": PAID,
            "page": "/console/orders/2026120400017",
            "data": {
                "character_string1": {"value": "2026120400017"},
                "amount2": {"value": "¥12.00"},
                "thing3": {"value": "Red scarf"},
                "time4": {"value": "2026-12-04 14:00"},
            },
            "miniprogram_state": "formal",
            "lang": "zh_CN",
        }
    ]
    token_call, send_call = fake.calls
    assert (token_call.method, token_call.path) == ("POST", "/cgi-bin/stable_token")
    assert token_call.body == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": False,
    }
    assert (send_call.method, send_call.path) == ("POST", "/cgi-bin/message/subscribe/send")
    assert send_call.query["access_token"].startswith("fake_")


async def test_the_token_is_fetched_once_for_many_sends_and_again_before_it_expires(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    for _ in range(5):
        await wechat.deliver(OPENID, paid())
    assert fake.token_fetches == 1
    first = fake.sends[0].query["access_token"]

    clock.advance(timedelta(seconds=7200 - 310))  # still outside the last five minutes
    await wechat.deliver(OPENID, paid())
    assert fake.token_fetches == 1

    # Inside them: fetched again, and the stable API hands out the next token.
    clock.advance(timedelta(seconds=20))
    await wechat.deliver(OPENID, paid())
    assert fake.token_fetches == 2
    second = fake.sends[-1].query["access_token"]
    assert second != first

    # Well past the first token's end: the second one is used (and still good) until its turn.
    clock.advance(timedelta(hours=1))
    await wechat.deliver(OPENID, paid())
    assert fake.token_fetches == 2
    assert fake.sends[-1].query["access_token"] == second
    assert len(fake.accepted) == 8


async def test_a_token_that_wechat_handed_out_earlier_is_kept_only_for_what_is_left_of_it(
    fake: FakeWeChat, http: httpx.AsyncClient
) -> None:
    # Another worker process fetched the stable token an hour ago: this one gets the same token,
    # with an hour less, and asks again when that runs out (not 2 hours from now).
    other = WeChatMessages(appid=APPID, secret=SECRET, http=http, templates=TEMPLATES)
    await other.deliver(OPENID, paid())
    clock.advance(timedelta(hours=1))
    this = WeChatMessages(appid=APPID, secret=SECRET, http=http, templates=TEMPLATES)
    await this.deliver(OPENID, paid())
    assert fake.sends[0].query["access_token"] == fake.sends[1].query["access_token"]

    clock.advance(timedelta(seconds=3600 - 290))
    await this.deliver(OPENID, paid())
    assert fake.token_fetches == 3
    assert len(fake.accepted) == 3


@pytest.mark.parametrize("errcode", [40001, 42001, 40014])
async def test_a_refused_token_is_dropped_and_the_send_tried_once_more(
    fake: FakeWeChat, wechat: WeChatMessages, errcode: int
) -> None:
    await wechat.deliver(OPENID, paid())
    fake.fail_next("send", errcode)

    await wechat.deliver(OPENID, paid())

    assert fake.token_fetches == 2
    assert len(fake.sends) == 3
    assert len(fake.accepted) == 2


async def test_a_revoked_token_is_replaced_by_the_one_wechat_holds_now(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    await wechat.deliver(OPENID, paid())
    fake.revoke_tokens()  # e.g. someone forced a refresh: the cached token answers 40001

    await wechat.deliver(OPENID, paid())

    revoked, fresh = fake.sends[1].query["access_token"], fake.sends[2].query["access_token"]
    assert revoked == fake.sends[0].query["access_token"] != fresh
    assert fake.token_fetches == 2
    assert len(fake.accepted) == 2


async def test_a_fresh_token_refused_too_is_tried_again_later(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    fake.fail_next("send", 40001, 40001)

    with pytest.raises(NotDeliveredYet, match="fresh access token"):
        await wechat.deliver(OPENID, paid())

    assert len(fake.sends) == 2  # one retry, not a loop
    assert fake.accepted == []


async def test_concurrent_sends_share_one_token_fetch(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    fake.token_delay = 0.02

    await asyncio.gather(*(wechat.deliver(OPENID, paid()) for _ in range(20)))

    assert fake.token_fetches == 1
    assert len(fake.accepted) == 20


async def test_concurrent_sends_share_a_failed_token_fetch_too(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    fake.token_delay = 0.02
    fake.fail_next("token", -1)

    outcomes = await asyncio.gather(
        *(wechat.deliver(OPENID, paid()) for _ in range(5)), return_exceptions=True
    )

    assert all(isinstance(outcome, NotDeliveredYet) for outcome in outcomes)
    assert fake.token_fetches == 1
    await wechat.deliver(OPENID, paid())  # the next send asks again
    assert fake.token_fetches == 2


async def test_a_user_who_refused_or_used_up_the_subscription_is_never_sent_to(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    fake.subscribe("oOneTime", PAID, times=1)
    await wechat.deliver("oOneTime", paid())

    with pytest.raises(Undeliverable, match="43101"):
        await wechat.deliver("oOneTime", paid())
    fake.users.add("oNever")
    with pytest.raises(Undeliverable, match="43101"):
        await wechat.deliver("oNever", paid())


async def test_an_unknown_openid_is_never_deliverable(wechat: WeChatMessages) -> None:
    with pytest.raises(Undeliverable, match="40003"):
        await wechat.deliver("oSomeoneElse", paid())


async def test_a_template_wechat_does_not_have_is_never_deliverable(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    del fake.templates[PAID]
    with pytest.raises(Undeliverable, match="40037"):
        await wechat.deliver(OPENID, paid())


async def test_data_the_template_does_not_accept_is_never_deliverable(
    fake: FakeWeChat, http: httpx.AsyncClient
) -> None:
    # The template at WeChat has a key our configuration does not fill.
    fake.add_template(PAID, "character_string1", "amount2", "thing3", "time4", "thing5")
    wechat = WeChatMessages(appid=APPID, secret=SECRET, http=http, templates=TEMPLATES)
    with pytest.raises(Undeliverable, match=r"47003.*data\.thing5\.value is empty"):
        await wechat.deliver(OPENID, paid())


async def test_a_page_not_in_the_mini_program_is_never_deliverable(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    fake.pages = {"pages/index/index"}
    with pytest.raises(Undeliverable, match="41030"):
        await wechat.deliver(OPENID, paid())


async def test_a_page_can_be_built_around_the_link(
    fake: FakeWeChat, http: httpx.AsyncClient
) -> None:
    fake.pages = {"pages/web/web"}
    templates = {
        "order_paid": WeChatTemplate(
            PAID, TEMPLATES["order_paid"].fields, "pages/web/web?path={link}"
        )
    }
    wechat = WeChatMessages(appid=APPID, secret=SECRET, http=http, templates=templates)
    await wechat.deliver(OPENID, paid())
    assert fake.accepted[0]["page"] == "pages/web/web?path=/console/orders/2026120400017"


@pytest.mark.parametrize("errcode", [43101, 40003, 40037, 47003, 41030])
async def test_answers_that_never_change_are_undeliverable(
    fake: FakeWeChat, wechat: WeChatMessages, errcode: int
) -> None:
    fake.fail_next("send", errcode)
    with pytest.raises(Undeliverable, match=str(errcode)):
        await wechat.deliver(OPENID, paid())
    assert len(fake.sends) == 1  # not retried


@pytest.mark.parametrize("failure", [-1, 45009, 45011, 48001, "http500", "timeout", "connect"])
async def test_failures_that_may_pass_are_tried_again_later(
    fake: FakeWeChat, wechat: WeChatMessages, failure: Failure
) -> None:
    fake.fail_next("send", failure)
    with pytest.raises(NotDeliveredYet):
        await wechat.deliver(OPENID, paid())
    await wechat.deliver(OPENID, paid())  # and later it goes
    assert len(fake.accepted) == 1


@pytest.mark.parametrize("failure", [-1, 45009, "http500", "timeout", "connect"])
async def test_a_token_api_failure_is_tried_again_later(
    fake: FakeWeChat, wechat: WeChatMessages, failure: Failure, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("token", failure)
    with pytest.raises(NotDeliveredYet):
        await wechat.deliver(OPENID, paid())
    assert fake.sends == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    await wechat.deliver(OPENID, paid())
    assert len(fake.accepted) == 1


async def test_a_wrong_secret_waits_for_the_operator_and_says_so_once(
    fake: FakeWeChat, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    wechat = WeChatMessages(appid=APPID, secret="not-the-secret", http=http, templates=TEMPLATES)
    for _ in range(3):
        with pytest.raises(NotDeliveredYet, match="40125"):
            await wechat.deliver(OPENID, paid())
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "POCKETSHOP_WECHAT_APP_SECRET" in errors[0].getMessage()
    assert "not-the-secret" not in caplog.text
    assert fake.sends == []


async def test_an_address_off_the_ip_whitelist_waits_for_the_operator(
    fake: FakeWeChat, wechat: WeChatMessages, caplog: pytest.LogCaptureFixture
) -> None:
    fake.whitelisted = False
    with pytest.raises(NotDeliveredYet, match="40164"):
        await wechat.deliver(OPENID, paid())
    assert "IP whitelist" in caplog.text

    fake.whitelisted = True  # the operator added the server's address
    await wechat.deliver(OPENID, paid())
    assert len(fake.accepted) == 1


async def test_an_event_without_a_template_is_undeliverable_without_asking_wechat(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    message = Message("low_stock", "Low stock", "Only 2 left.", "/console/products/1", {})
    with pytest.raises(Undeliverable, match="no WeChat template"):
        await wechat.deliver(OPENID, message)
    values = {"number": "1", "amount": "¥1.00", "time": "12:00"}  # no "title"
    with pytest.raises(Undeliverable, match="no value 'title'"):
        await wechat.deliver(OPENID, Message("order_paid", "Paid", "Paid.", "/", values))
    assert fake.calls == []


async def test_values_are_fitted_to_their_rules_and_wechat_takes_them(
    fake: FakeWeChat, wechat: WeChatMessages
) -> None:
    await wechat.deliver(
        OPENID,
        paid(
            number="订单 2026-1204 0001 7 with a rather long tail of characters",
            amount="¥1,234,567.80",
            title="A very long product title that goes on and on",
            time="at 2026-12-04 14:00 local",
        ),
    )
    shipped = Message(
        event="order_shipped",
        title="Order shipped",
        body="…",
        link="/me/orders/2026120400017",
        values={
            "number": "2026120400017",
            "shop": "  Tea   from\nthe hills  ",
            "status": "已发货 (shipped), 配送中",
            "carrier": "顺丰速运有限公司同城急送12",
            "count": "1,024 left",
            "time": "2026年12月4日 14:00",
            "code": "SF-1234 express",
            "mark": "!!!???***",
            "phone": "+86 0766 66888866",
        },
    )
    await wechat.deliver(OPENID, shipped)

    first, second = (body["data"] for body in fake.accepted)
    assert first == {
        "character_string1": {"value": "2026-120400017witharatherlongtai"},
        "amount2": {"value": "¥1234567.80"},
        "thing3": {"value": "A very long product…"},
        "time4": {"value": "2026-12-04 14:00"},
    }
    assert second == {
        "character_string1": {"value": "2026120400017"},
        "thing2": {"value": "Tea from the hills"},
        "phrase3": {"value": "已发货配送"},
        "name4": {"value": "顺丰速运有限公司同城"},
        "number5": {"value": "1024"},
        "date6": {"value": "2026年12月4日 14:00"},
        "letter7": {"value": "SFexpress"},
        "symbol8": {"value": "!!!??"},
        "phone_number9": {"value": "+86-0766-66888866"},
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("phrase1", "Shipped"),  # no Chinese character at all
        ("amount1", "12.00"),  # no currency
        ("amount1", "-¥5.00"),  # the rule has no sign
        ("amount1", "¥12345678901.00"),  # more than 10 digits
        ("time1", "soon"),
        ("number1", "none"),
        ("phone_number1", "+86 0766 6688 8866 12"),  # cutting it would change the number
        ("thing1", "   "),
    ],
)
async def test_a_value_that_cannot_be_fitted_is_undeliverable_without_asking_wechat(
    fake: FakeWeChat, http: httpx.AsyncClient, key: str, value: str
) -> None:
    templates = {"order_paid": WeChatTemplate(PAID, {key: "it"})}
    wechat = WeChatMessages(appid=APPID, secret=SECRET, http=http, templates=templates)
    with pytest.raises(Undeliverable, match=key):
        await wechat.deliver(OPENID, paid(it=value))
    assert fake.calls == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("thing1", "Z" * 40),
        ("thing1", "一二三四五六七八九十一二三四五六七八九十一"),
        ("character_string1", "单号：AB-12/34 " * 5),
        ("number1", "3.14159265358979323846264338327950288"),
        ("letter1", "abc123def" * 6),
        ("symbol1", "a-b-c-d-e-f-g"),
        ("amount1", "USD 12.00"),
        ("amount1", "12.00元"),
        ("time1", "14:00~16:30"),
        ("date1", "2026/12/04"),
        ("name1", "Alexander Maximilian Humboldt"),
        ("name1", "Li 小龙 the Dragon"),
        ("car_number1", "粤A 8Z888挂"),
    ],
)
def test_fitted_values_follow_the_fakes_reading_of_the_rules(key: str, value: str) -> None:
    fitted = fit(key, value)
    kind = key.rstrip("0123456789")
    assert follows_rule(kind, fitted), (key, value, fitted)


def test_templates_are_read_from_json() -> None:
    templates = parse_templates(
        '{"order_paid": {"template_id": " tpl1 ", "fields": {"character_string1": "number",'
        ' "amount2": "amount"}}, "refund_sent": {"template_id": "tpl2", "fields": {"thing1":'
        ' "title"}, "page": "pages/web/web?path={link}"}}'
    )
    assert templates == {
        "order_paid": WeChatTemplate("tpl1", {"character_string1": "number", "amount2": "amount"}),
        "refund_sent": WeChatTemplate("tpl2", {"thing1": "title"}, "pages/web/web?path={link}"),
    }
    assert parse_templates("") == {}
    assert parse_templates("  \n") == {}


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ('["order_paid"]', "JSON object of events"),
        ('{"order_payed": {"template_id": "t", "fields": {"thing1": "title"}}}', "no such event"),
        ('{"order_paid": "t"}', "must be an object"),
        ('{"order_paid": {"fields": {"thing1": "title"}}}', "template_id"),
        ('{"order_paid": {"template_id": "", "fields": {"thing1": "title"}}}', "template_id"),
        ('{"order_paid": {"template_id": "t"}}', "fields"),
        ('{"order_paid": {"template_id": "t", "fields": {}}}', "fields"),
        (
            '{"order_paid": {"template_id": "t", "fields": {"title": "title"}}}',
            "not a template key",
        ),
        (
            '{"order_paid": {"template_id": "t", "fields": {"color1": "title"}}}',
            "not a template key",
        ),
        ('{"order_paid": {"template_id": "t", "fields": {"thing1": 3}}}', "message value"),
        ('{"order_paid": {"template_id": "t", "fields": {"thing1": "x"}, "page": 1}}', "page"),
        ('{"order_paid": {"template_id": "t", "fields": {"thing1": "x"}, "url": "/"}}', "unknown"),
    ],
)
def test_malformed_templates_are_refused_clearly(raw: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_templates(raw)


async def test_the_api_backend_is_made_from_settings(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "wechat_messages_backend": "api",
            "wechat_app_id": APPID,
            "wechat_app_secret": SECRET,
            "wechat_templates": '{"order_paid": {"template_id": "t", "fields": {"thing1": "x"}}}',
        }
    )
    async with httpx.AsyncClient() as http:
        assert isinstance(make_wechat(configured, http), WeChatMessages)
        assert isinstance(make_wechat(settings, http), ConsoleWeChat)
        unnamed = configured.model_copy(update={"wechat_app_secret": ""})
        with pytest.raises(ValueError, match="WECHAT_APP_SECRET"):
            make_wechat(unnamed, http)


async def test_the_console_backend_keeps_the_last_fifty() -> None:
    console = ConsoleWeChat()
    for number in range(51):
        await console.deliver(OPENID, paid(number=str(number)))
    assert len(console.sent) == 50
    assert console.sent[0].message.values["number"] == "50"


# The fake itself, on the points the adapter's design rests on.


async def test_fake_stable_tokens_are_shared_and_classic_ones_replace_each_other(
    fake: FakeWeChat, http: httpx.AsyncClient
) -> None:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    url = "https://api.weixin.qq.com/cgi-bin"
    one = (await http.post(f"{url}/stable_token", json=body)).json()["access_token"]
    two = (await http.post(f"{url}/stable_token", json=body)).json()["access_token"]
    assert one == two  # normal mode: the same token to every caller

    query = body | {"grant_type": "client_credential"}
    old = (await http.get(f"{url}/token", params=query)).json()["access_token"]
    new = (await http.get(f"{url}/token", params=query)).json()["access_token"]
    assert old != new
    clock.advance(timedelta(minutes=5, seconds=1))

    async def send(token: str) -> int:
        answer = await http.post(
            f"{url}/message/subscribe/send",
            params={"access_token": token},
            json={
                "touser": OPENID,
                "template_id": PAID,
                "data": {
                    "character_string1": {"value": "1"},
                    "amount2": {"value": "¥1"},
                    "thing3": {"value": "x"},
                    "time4": {"value": "12:00"},
                },
            },
        )
        code: int = answer.json()["errcode"]
        return code

    assert await send(old) == 40001  # replaced by the next classic fetch, after 5 minutes
    assert await send(new) == 0
    assert await send(one) == 0  # the classic fetches did not touch the stable token

    forced = (await http.post(f"{url}/stable_token", json=body | {"force_refresh": True})).json()
    assert forced["access_token"] != one
    assert await send(one) == 40001  # forcing a refresh invalidates everyone's token
    clock.advance(timedelta(hours=3))
    assert await send(new) == 42001
