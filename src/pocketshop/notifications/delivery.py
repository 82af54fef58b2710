"""Sending one delivery (an outbox message's work): read it, send it with no transaction open,
record how it went. At least once: a crash after sending and before recording sends it again.
A failure that may pass is retried by the outbox, with back-off, until the setting's number of
tries; then, or at once when it never can work, the delivery is marked failed with its reason
(`pocketshop notifications failed` lists them)."""

import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import update

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.accounts.sms import SmsSender
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.i18n import _, using
from pocketshop.notifications.channels import Message, Undeliverable
from pocketshop.notifications.events import Channel, Event, render
from pocketshop.notifications.models import Delivery, Notification

log = logging.getLogger(__name__)

QUEUED, SENT, FAILED = "queued", "sent", "failed"


class WeChatChannel(Protocol):
    async def deliver(self, address: str, message: Message) -> None: ...


@dataclass(frozen=True)
class Senders:
    sms: SmsSender
    wechat: WeChatChannel


async def deliver(db: Database, settings: Settings, senders: Senders, delivery_id: int) -> None:
    async with db.transaction(write=False) as session:
        delivery = await session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != QUEUED:
            return  # sent, or given up, before
        notification = await session.get_one(Notification, delivery.notification_id)
        user = await session.get_one(User, notification.user_id)
        locale = user.locale or settings.default_locale
        message = render(
            Event(notification.event), notification.params, locale, settings.default_timezone
        )
        channel, address, tries = Channel(delivery.channel), delivery.address, delivery.attempts
    try:
        if channel is Channel.sms:
            await senders.sms.send(address, sms_text(message, locale))
        else:
            await senders.wechat.deliver(address, message)
    except Undeliverable as never:
        await _finish(db, delivery_id, FAILED, tries + 1, f"undeliverable: {never}")
        return
    except Exception as failed:
        # It may pass (a timeout, a busy provider): the outbox tries again, up to the limit.
        if tries + 1 >= settings.notification_max_tries:
            log.warning("notification delivery %s given up: %r", delivery_id, failed)
            await _finish(db, delivery_id, FAILED, tries + 1, f"gave up: {failed!r}")
            return
        await _finish(db, delivery_id, QUEUED, tries + 1, repr(failed))
        raise
    await _finish(db, delivery_id, SENT, tries + 1, "")


def sms_text(message: Message, locale: str) -> str:
    """The SMS: the platform's signature in brackets, as carriers require, then the text."""
    with using(locale):
        return _("【Pocketshop】%(title)s: %(body)s", title=message.title, body=message.body)


async def _finish(db: Database, delivery_id: int, status: str, tries: int, error: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == QUEUED)
            .values(
                status=status,
                attempts=tries,
                last_error=error[:2000],
                finished_at=None if status == QUEUED else clock.now(),
            )
            .execution_options(synchronize_session=False)
        )
