"""Each event is told once per channel its user wants (a duplicate event is still one
message), through the outbox: at least once, retried, and given up visibly. Events come from
the real flows that make them: a payment, a shipment, a refund, a settlement, a withdrawal, an
after-sales step, a timer, a checkout that leaves little stock."""

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cli, clock
from pocketshop.accounts.models import User, WeChatIdentity
from pocketshop.accounts.sms import ConsoleSmsSender
from pocketshop.db import Database
from pocketshop.notifications import service
from pocketshop.notifications.channels import ConsoleWeChat, NotDeliveredYet, Undeliverable
from pocketshop.notifications.events import Event
from pocketshop.notifications.models import Delivery, Notification
from tests.commerce import one_sku_and_buyer, ordered, run_jobs, ship
from tests.payments.money import pay_through_sandbox, received, settled, withdraw

Told = Counter[tuple[str, str, str]]  # (phone, event, channel: inbox or the delivery's)


async def drained(app: FastAPI) -> None:
    """Everything queued delivered: the event's record first, then its deliveries."""
    for _ in range(4):
        await app.state.dispatch_outbox()


async def told(app: FastAPI) -> Told:
    await drained(app)
    db: Database = app.state.db
    found: Told = Counter()
    async with db.transaction(write=False) as session:
        rows = await session.execute(select(Notification.user_id, Notification.event))
        phones = await _phones(session)
        for user_id, event in rows:
            found[(phones[user_id], event, "inbox")] += 1
        sent = await session.execute(
            select(
                Notification.user_id, Notification.event, Delivery.channel, Delivery.status
            ).join(Delivery, Delivery.notification_id == Notification.id)
        )
        for user_id, event, channel, status in sent:
            found[(phones[user_id], event, f"{channel}:{status}")] += 1
    return found


async def _phones(session: AsyncSession) -> dict[int, str]:
    return {user_id: phone for user_id, phone in await session.execute(select(User.id, User.phone))}


def sms_sent(app: FastAPI) -> list[tuple[str, str]]:
    sender = app.state.runtime.senders.sms
    assert isinstance(sender, ConsoleSmsSender)
    return [(sent.phone, sent.text) for sent in sender.sent]


async def test_a_paid_order_tells_its_merchant_once_in_the_inbox_and_by_sms(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    phone = merchant.user.phone
    assert await told(app) == {
        (phone, "order_paid", "inbox"): 1,
        (phone, "order_paid", "sms:sent"): 1,
    }
    texts = [text for to, text in sms_sent(app) if to == phone]
    assert len(texts) == 1
    assert number in texts[0]
    assert texts[0].startswith("【")
    # The same event again (a notification replayed, a job run twice): still one message.
    db: Database = app.state.db
    async with db.transaction() as session:
        for _ in range(2):
            service.notify(
                session, Event.order_paid, number, {"number": number}, shop_id=merchant.shop.id
            )
    assert (await told(app))[(phone, "order_paid", "sms:sent")] == 1
    assert len([to for to, _text in sms_sent(app) if to == phone]) == 1


async def test_every_event_reaches_whom_it_concerns(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Shipped, reminded, refunded, settled, withdrawn (paid and failed), low stock, an
    after-sales step: each told once, in the inbox, and by SMS when that is its default."""
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=8)
    await received(app, client, merchant, buyer, sku, 2)  # paid, shipped, received
    await settled(app)
    second = await ordered(client, buyer, merchant.shop, [(sku, 2)])  # 4 left: low stock
    await pay_through_sandbox(client, buyer, second)
    assert (await ship(client, merchant, second, "SF1234567890555")).status_code == 201
    clock.advance(timedelta(days=app.state.settings.auto_confirm_days - 1, minutes=1))
    await run_jobs(app)  # the reminder, a day before receipt is confirmed for the buyer
    asked = await client.post(
        f"/api/v1/orders/{second}/aftersales",
        json={
            "line_id": await _line(client, buyer.auth, second),
            "kind": "refund_only",
            "quantity": 1,
            "reason": "quality",
        },
        headers=buyer.auth,
    )
    assert asked.status_code == 201, asked.text
    agreed = await client.post(
        f"/api/v1/me/shop/aftersales/{asked.json()['id']}/agree", json={}, headers=merchant.auth
    )
    assert agreed.status_code == 200, agreed.text
    assert (await withdraw(client, merchant, 100)).status_code == 201
    assert (await withdraw(client, merchant, 144)).status_code == 201  # the sandbox bank: no
    found = await told(app)
    shop, person = merchant.user.phone, buyer.user.phone
    expected = {
        (shop, "order_paid", "inbox"): 2,
        (shop, "order_paid", "sms:sent"): 2,
        (person, "order_shipped", "inbox"): 2,
        (person, "order_shipped", "sms:sent"): 2,
        (person, "receipt_due_soon", "inbox"): 1,
        (person, "receipt_due_soon", "sms:sent"): 1,
        (shop, "low_stock", "inbox"): 1,
        (shop, "settled", "inbox"): 1,
        (shop, "aftersales_step", "inbox"): 1,  # the buyer asked
        (shop, "aftersales_step", "sms:sent"): 1,
        (person, "aftersales_step", "inbox"): 1,  # the shop agreed
        (person, "aftersales_step", "sms:sent"): 1,
        (person, "refund_sent", "inbox"): 1,
        (person, "refund_sent", "sms:sent"): 1,
        (shop, "withdrawal_paid", "inbox"): 1,
        (shop, "withdrawal_failed", "inbox"): 1,
        (shop, "withdrawal_failed", "sms:sent"): 1,
    }
    assert found == expected


async def _line(client: httpx.AsyncClient, auth: dict[str, str], number: str) -> str:
    order = (await client.get(f"/api/v1/orders/{number}", headers=auth)).json()
    return str(order["lines"][0]["id"])


async def test_a_user_who_turned_sms_off_gets_the_inbox_only_and_wechat_when_known(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        await service.set_preferences(session, merchant.user, {"order_paid": {"sms": False}})
        session.add(
            WeChatIdentity(
                user_id=merchant.user.id, appid="wx0", openid="o-merchant", created_at=clock.now()
            )
        )
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    phone = merchant.user.phone
    assert await told(app) == {
        (phone, "order_paid", "inbox"): 1,
        (phone, "order_paid", "wechat:sent"): 1,
    }
    wechat = app.state.runtime.senders.wechat
    assert isinstance(wechat, ConsoleWeChat)
    (sent,) = list(wechat.sent)
    assert sent.address == "o-merchant"
    assert sent.message.values["number"] == number
    assert sent.message.link == f"/console/orders/{number}"


@pytest.mark.parametrize("failure", [NotDeliveredYet("busy"), TimeoutError()])
async def test_a_failing_channel_is_retried_then_given_up_visibly(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: Exception,
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    tries = []

    async def failing(phone: str, text: str) -> None:
        tries.append(phone)
        raise failure

    monkeypatch.setattr(app.state.runtime.senders.sms, "send", failing)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    limit = app.state.settings.notification_max_tries
    for _ in range(limit + 2):
        await drained(app)
        clock.advance(timedelta(hours=2))  # past the outbox's back-off
    assert tries == [merchant.user.phone] * limit
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        (delivery,) = await session.scalars(select(Delivery))
    assert (delivery.status, delivery.attempts) == ("failed", limit)
    assert delivery.last_error.startswith("gave up")
    # The operator sees it.
    monkeypatch.setenv("DATABASE_URL", db.url)
    assert await asyncio.to_thread(cli.main, ["notifications", "failed"]) == 0
    listed = capsys.readouterr().out
    assert f"order_paid\tsms\t{merchant.user.phone}\t{limit} tries\tgave up" in listed


async def test_a_message_that_can_never_go_is_not_tried_again(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    tries = []

    async def refused(phone: str, text: str) -> None:
        tries.append(phone)
        raise Undeliverable("the number does not take messages")

    monkeypatch.setattr(app.state.runtime.senders.sms, "send", refused)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    for _ in range(3):
        await drained(app)
        clock.advance(timedelta(hours=2))
    assert tries == [merchant.user.phone]
    assert (await told(app))[(merchant.user.phone, "order_paid", "sms:failed")] == 1


async def test_messages_are_in_the_language_the_user_logged_in_with(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        owner = await session.get_one(type(merchant.user), merchant.user.id)
        owner.locale = "en"
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await pay_through_sandbox(client, buyer, number)
    await drained(app)
    (text,) = [text for to, text in sms_sent(app) if to == merchant.user.phone]
    assert f"Order {number} was paid" in text
