"""Each user's inbox and notification settings, as JSON and as pages: what happened to them
(and only to them), newest first, in the reader's language; marking it read; which
notifications also come by SMS or WeChat (the inbox always keeps them)."""

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pocketshop import clock
from pocketshop.accounts.sms import ConsoleSmsSender
from pocketshop.db import Database
from pocketshop.notifications import service
from pocketshop.notifications.events import Event
from tests.commerce import (
    Buyer,
    Merchant,
    make_buyer,
    make_merchant,
    one_sku_and_buyer,
    ordered,
    web_login,
)
from tests.payments.money import pay_through_sandbox
from tests.support import api_error, csrf_for, other_client, tr

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
BUYER_EVENTS = ["order_shipped", "receipt_due_soon", "refund_sent", "aftersales_step"]
MERCHANT_EVENTS = [
    "order_paid",
    "payment_request_paid",
    "aftersales_step",
    "settled",
    "withdrawal_paid",
    "withdrawal_failed",
    "low_stock",
]


async def drained(app: FastAPI) -> None:
    """The event's record, then its deliveries."""
    for _ in range(3):
        await app.state.dispatch_outbox()


async def paid_order(app: FastAPI, client: httpx.AsyncClient) -> tuple[Merchant, Buyer, str]:
    """A buyer paid an order of the merchant's shop: the merchant has been told."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    await drained(app)
    return merchant, buyer, number


async def inbox(
    client: httpx.AsyncClient, auth: Mapping[str, str], **params: Any
) -> dict[str, Any]:
    answer = await client.get("/api/v1/me/notifications", headers=dict(auth), params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def settings_of(client: httpx.AsyncClient, auth: Mapping[str, str]) -> dict[str, Any]:
    answer = await client.get("/api/v1/me/notification-settings", headers=dict(auth))
    assert answer.status_code == 200, answer.text
    return {row["event"]: row for row in answer.json()["events"]}


def sms_to(app: FastAPI, phone: str) -> list[str]:
    sender = app.state.runtime.senders.sms
    assert isinstance(sender, ConsoleSmsSender)
    return [sent.text for sent in sender.sent if sent.phone == phone]


async def tell(app: FastAPI, user_id: int, count: int) -> None:
    """`count` notifications recorded for the user, a minute apart (as the outbox would)."""
    db: Database = app.state.db
    for index in range(count):
        clock.advance(timedelta(minutes=1))
        async with db.transaction() as session:
            await service.record(
                session,
                {
                    "event": Event.low_stock.value,
                    "key": f"stock-{index}",
                    "params": {"left": index, "title": f"钱包{index}", "product": "p1"},
                    "user_id": user_id,
                    "shop_id": None,
                },
            )


# --- the JSON API --------------------------------------------------------------------------


async def test_a_paid_order_is_in_its_merchants_inbox_in_the_askers_language(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, number = await paid_order(app, client)

    found = await inbox(client, merchant.auth)
    assert found["unread"] == 1
    assert found["page"] == 1
    assert found["has_next"] is False
    [item] = found["items"]
    assert item["event"] == "order_paid"
    assert item["read"] is False
    assert item["link"] == f"/console/orders/{number}"
    assert item["id"].isdigit()
    assert item["title"] == tr("New paid order")
    assert number in item["body"]
    assert "¥99.00" in item["body"]
    assert re.search(r"[\u4e00-\u9fff]", item["body"])

    english = await client.get("/api/v1/me/notifications", headers=merchant.auth | ENGLISH)
    [item] = english.json()["items"]
    assert item["title"] == "New paid order"
    assert item["body"] == f"Order {number} was paid: ¥99.00. Ship it soon."

    # The buyer was not told of their own payment, nor anyone else of it.
    assert (await inbox(client, buyer.auth))["items"] == []
    stranger = await make_merchant(app, "别人的店")
    assert await inbox(client, stranger.auth) == {
        "items": [],
        "page": 1,
        "has_next": False,
        "unread": 0,
    }


async def test_marking_read_counts_what_was_unread_and_only_the_askers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, _buyer, _number = await paid_order(app, client)
    other, _other_buyer, _other_number = await paid_order(app, client)

    marked = await client.post("/api/v1/me/notifications/read", headers=merchant.auth)
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"marked": 1}
    again = await client.post("/api/v1/me/notifications/read", headers=merchant.auth)
    assert again.json() == {"marked": 0}

    found = await inbox(client, merchant.auth)
    assert found["unread"] == 0
    assert [item["read"] for item in found["items"]] == [True]
    # The other merchant's stays unread.
    theirs = await inbox(client, other.auth)
    assert theirs["unread"] == 1
    assert [item["read"] for item in theirs["items"]] == [False]


async def test_the_inbox_comes_newest_first_a_page_at_a_time(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await tell(app, merchant.user.id, service.PER_PAGE + 2)

    first = await inbox(client, merchant.auth)
    assert len(first["items"]) == service.PER_PAGE
    assert first["has_next"] is True
    assert first["unread"] == service.PER_PAGE + 2
    second = await inbox(client, merchant.auth, page=2)
    assert len(second["items"]) == 2
    assert second["has_next"] is False
    ids = [int(item["id"]) for item in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert first["items"][0]["link"] == "/console/products/p1"
    assert (await inbox(client, merchant.auth, page=3))["items"] == []
    api_error(
        await client.get("/api/v1/me/notifications?page=0", headers=merchant.auth), 422, "invalid"
    )


async def test_settings_list_a_buyers_events_and_a_shop_owners_too(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    buyer = await make_buyer(app)
    merchant = await make_merchant(app)

    as_buyer = await settings_of(client, buyer.auth)
    assert list(as_buyer) == BUYER_EVENTS
    as_merchant = await settings_of(client, merchant.auth)
    assert set(as_merchant) == set(BUYER_EVENTS) | set(MERCHANT_EVENTS)
    assert list(as_merchant)[: len(MERCHANT_EVENTS)] == MERCHANT_EVENTS

    # The defaults: the inbox always, SMS for what needs acting on, WeChat when there is one.
    assert as_merchant["order_paid"]["channels"] == {"inbox": True, "sms": True, "wechat": True}
    assert as_merchant["settled"]["channels"] == {"inbox": True, "sms": False, "wechat": True}
    assert as_merchant["order_paid"]["label"] == tr("A new paid order")
    english = await client.get("/api/v1/me/notification-settings", headers=buyer.auth | ENGLISH)
    assert english.json()["events"][0] == {
        "event": "order_shipped",
        "label": "Your order was shipped",
        "channels": {"inbox": True, "sms": True, "wechat": True},
    }


async def test_choices_are_kept_and_followed(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    answer = await client.put(
        "/api/v1/me/notification-settings",
        json={
            "choices": {
                "order_paid": {"sms": False},
                "settled": {"sms": True, "wechat": False, "inbox": True},
            }
        },
        headers=merchant.auth,
    )
    assert answer.status_code == 200, answer.text
    returned = {row["event"]: row["channels"] for row in answer.json()["events"]}
    assert returned["order_paid"] == {"inbox": True, "sms": False, "wechat": True}
    assert returned["settled"] == {"inbox": True, "sms": True, "wechat": False}
    assert {
        row["event"]: row["channels"] for row in (await settings_of(client, merchant.auth)).values()
    } == returned
    # Someone else's choices did not move.
    other = await make_merchant(app, "别人的店")
    assert (await settings_of(client, other.auth))["order_paid"]["channels"]["sms"] is True

    # An order paid now is in the inbox, and no SMS tells of it.
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    await drained(app)
    assert [item["event"] for item in (await inbox(client, merchant.auth))["items"]] == [
        "order_paid"
    ]
    assert not [text for text in sms_to(app, merchant.user.phone) if number in text]


@pytest.mark.parametrize(
    ("choices", "field"),
    [
        ({"no_such_event": {"sms": False}}, "choices.no_such_event.[key]"),
        ({"order_paid": {"email": False}}, "choices.order_paid.email"),
        ({"order_paid": {"inbox": False}}, "choices.order_paid.inbox"),
        ({"order_paid": {"sms": "no"}}, "choices.order_paid.sms"),
        ({"order_paid": {"sms": 0}}, "choices.order_paid.sms"),
        ({"order_paid": False}, "choices.order_paid"),
    ],
)
async def test_settings_refuse_what_cannot_be_chosen(
    app: FastAPI, client: httpx.AsyncClient, choices: dict[str, Any], field: str
) -> None:
    merchant = await make_merchant(app)
    before = await settings_of(client, merchant.auth)
    answer = await client.put(
        "/api/v1/me/notification-settings", json={"choices": choices}, headers=merchant.auth
    )
    error = api_error(answer, 422, "invalid")
    details = error["details"]
    assert isinstance(details, list)
    assert field in [detail["field"] for detail in details], details
    assert await settings_of(client, merchant.auth) == before
    unknown = await client.put(
        "/api/v1/me/notification-settings",
        json={"choices": {}, "extra": 1},
        headers=merchant.auth,
    )
    api_error(unknown, 422, "invalid")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me/notifications"),
        ("POST", "/api/v1/me/notifications/read"),
        ("GET", "/api/v1/me/notification-settings"),
        ("PUT", "/api/v1/me/notification-settings"),
    ],
)
async def test_the_api_wants_a_login(client: httpx.AsyncClient, method: str, path: str) -> None:
    body = {"choices": {}} if method == "PUT" else None
    answer = await client.request(method, path, json=body)
    api_error(answer, 401, "not_authenticated")


# --- the pages -----------------------------------------------------------------------------


async def test_the_inbox_page_lists_marks_unread_and_marks_read(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, _buyer, number = await paid_order(app, client)
    await web_login(app, client, merchant.user)

    page = await client.get("/me/notifications")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert tr("New paid order") in html
    assert f'href="/console/orders/{number}"' in html
    assert html.count('class="card store-order-card notification is-unread"') == 1
    assert 'action="/me/notifications/read"' in html
    assert 'href="/me/notifications/settings"' in html
    assert '<html lang="zh-CN">' in html

    token = await csrf_for(client, "/me/notifications")
    done = await client.post("/me/notifications/read", data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/me/notifications?done=read"
    after = await client.get(done.headers["location"])
    assert tr("All notifications marked as read.") in after.text
    assert "is-unread" not in after.text
    assert 'action="/me/notifications/read"' not in after.text
    assert (await inbox(client, merchant.auth))["unread"] == 0

    # In English by the language cookie, whatever the browser says.
    client.cookies.set("ps_lang", "en")
    english = await client.get("/me/notifications", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in english.text
    assert "New paid order" in english.text
    assert f"Order {number} was paid: ¥99.00. Ship it soon." in english.text


async def test_the_inbox_page_follows_accept_language_and_pages(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await tell(app, merchant.user.id, service.PER_PAGE + 1)
    await web_login(app, client, merchant.user)

    first = await client.get("/me/notifications", headers=ENGLISH)
    assert first.status_code == 200
    assert first.text.count("Low stock") >= service.PER_PAGE
    assert first.text.count("notification is-unread") == service.PER_PAGE
    assert 'href="/me/notifications?page=2"' in first.text
    second = await client.get("/me/notifications?page=2", headers=ENGLISH)
    assert second.text.count('class="card store-order-card notification') == 1
    assert 'rel="prev" href="/me/notifications"' in second.text
    assert "Only 0 left of 钱包0" in second.text


async def test_someone_else_never_sees_my_notifications(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, number = await paid_order(app, client)
    await web_login(app, client, buyer.user)
    page = await client.get("/me/notifications")
    assert page.status_code == 200
    assert number not in page.text
    assert "store-order-card notification" not in page.text
    assert (
        tr("No notifications yet. You will find here what happens to your orders and your shop.")
        in page.text
    )
    # Marking read as the buyer leaves the merchant's unread.
    token = await csrf_for(client, "/me/notifications")
    await client.post("/me/notifications/read", data={"csrf_token": token})
    assert (await inbox(client, merchant.auth))["unread"] == 1


async def test_the_settings_page_shows_the_grid_and_saves_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await web_login(app, client, merchant.user)

    page = await client.get("/me/notifications/settings")
    assert page.status_code == 200, page.text
    html = page.text
    assert tr("A new paid order") in html
    assert tr("Your order was shipped") in html
    assert html.count('name="event"') == len(set(BUYER_EVENTS) | set(MERCHANT_EVENTS))
    assert html.count("checked disabled") == len(set(BUYER_EVENTS) | set(MERCHANT_EVENTS))
    assert 'name="sms" value="order_paid" checked' in html
    assert 'name="sms" value="settled">' in html
    assert 'href="/me/notifications"' in html
    # A shop's owner: the shop's notifications, then those of their own purchases.
    assert html.index(tr("Your shop")) < html.index(tr("Your purchases"))
    assert html.index(tr("Your purchases")) < html.index('value="order_shipped"')

    # Untick SMS of paid orders and WeChat of everything; tick SMS of settlements.
    shown = re.findall(r'name="event" value="(\w+)"', html)
    ticked_sms = [event for event in shown if event != "order_paid"]
    done = await client.post(
        "/me/notifications/settings",
        data={"csrf_token": await csrf_for(client, "/me/notifications/settings")}
        | {"event": shown, "sms": ticked_sms},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/me/notifications/settings?done=saved"
    saved = await settings_of(client, merchant.auth)
    assert {event: row["channels"]["sms"] for event, row in saved.items()} == {
        event: event != "order_paid" for event in shown
    }
    assert not any(row["channels"]["wechat"] for row in saved.values())
    after = await client.get(done.headers["location"], headers=ENGLISH)
    assert "Your notification settings are saved." in after.text
    assert 'name="sms" value="order_paid">' in after.text
    assert "WeChat" in after.text


async def test_a_buyer_sees_and_sets_only_a_buyers_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    page = await client.get("/me/notifications/settings")
    assert re.findall(r'name="event" value="(\w+)"', page.text) == BUYER_EVENTS
    assert "<h2>" not in page.text  # only a buyer's: no headings
    # A row the page did not show (a shop's) is not changed by a forged form.
    done = await client.post(
        "/me/notifications/settings",
        data={
            "csrf_token": await csrf_for(client, "/me/notifications/settings"),
            "event": ["order_paid", "nonsense", "order_shipped"],
        },
    )
    assert done.status_code == 303
    async with other_client(app) as api:
        channels = {
            row["event"]: row["channels"]
            for row in (
                await api.get("/api/v1/me/notification-settings", headers=buyer.auth)
            ).json()["events"]
        }
    assert channels["order_shipped"] == {"inbox": True, "sms": False, "wechat": False}
    assert channels["refund_sent"] == {"inbox": True, "sms": True, "wechat": True}
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        chosen = await service.channels_for(session, buyer.user, Event.order_paid)
    assert chosen[service.Channel.sms] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/me/notifications"),
        ("GET", "/me/notifications/settings"),
    ],
)
async def test_visitors_are_sent_to_log_in(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    answer = await client.request(method, path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={path}"


async def test_forms_need_their_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, _buyer, _number = await paid_order(app, client)
    await web_login(app, client, merchant.user)
    for path in ("/me/notifications/read", "/me/notifications/settings"):
        refused = await client.post(path, data={"event": ["order_paid"]})
        assert refused.status_code == 403, path
    assert (await inbox(client, merchant.auth))["unread"] == 1
    assert (await settings_of(client, merchant.auth))["order_paid"]["channels"]["sms"] is True


BADGE = re.compile(r'href="/me/notifications">[^<]*<span class="badge"[^>]*>([^<]+)</span>')


def badges(html: str) -> list[str]:
    return BADGE.findall(html)


async def test_the_unread_badge_on_the_console_and_the_storefront(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    buyer = await make_buyer(app)
    await tell(app, merchant.user.id, 2)
    await web_login(app, client, merchant.user)
    store = f"/s/{merchant.shop.slug}"

    assert badges((await client.get("/console")).text) == ["2"]
    shop_page = (await client.get(store)).text
    assert badges(shop_page) == ["2"]  # in the header's "me" menu
    assert '<span class="dot" title="' in shop_page  # and a dot on the menu itself

    await tell(app, merchant.user.id, 100)  # the first two again (kept once) and 98 more
    assert badges((await client.get("/console")).text) == ["99+"]

    token = await csrf_for(client, "/me/notifications")
    await client.post("/me/notifications/read", data={"csrf_token": token})
    assert badges((await client.get("/console")).text) == []
    shop_page = (await client.get(store)).text
    assert badges(shop_page) == []
    assert 'class="dot"' not in shop_page

    # The merchant's unread messages are not counted for a buyer.
    await tell(app, merchant.user.id, 101)
    async with other_client(app) as buyer_client:
        await web_login(app, buyer_client, buyer.user)
        assert badges((await buyer_client.get(store)).text) == []
        await tell(app, buyer.user.id, 1)
        assert badges((await buyer_client.get(store)).text) == ["1"]
