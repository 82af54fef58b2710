"""Telling people what happened.

`notify` is called explicitly where something happens, inside that transaction, and writes
one outbox row: the event's own transaction (a payment's capture, a checkout) pays one insert,
nothing more. After commit the outbox hands it to `record`, which keeps the notification
(once per user, event and key: a duplicate event changes nothing) and a delivery per channel
the user wants it by; each delivery is sent by `delivery.deliver`, through the outbox again:
at least once, retried, and given up visibly.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, db, outbox
from pocketshop.accounts.models import User, WeChatIdentity
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _
from pocketshop.notifications.events import KINDS, Channel, Event, Side, events_for
from pocketshop.notifications.models import Delivery, Notification, Preference
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop

EVENT_TOPIC = "notifications.event"
DELIVER_TOPIC = "notifications.deliver"
PER_PAGE = 20
CHOSEN = (Channel.sms, Channel.wechat)  # the inbox is always on

_notifications = db.table_of(Notification)


def notify(
    session: AsyncSession,
    event: Event,
    key: str,
    params: Mapping[str, Any],
    *,
    user_id: int | None = None,
    shop_id: int | None = None,
) -> None:
    """Tell the user (or the shop's owner) about `event`, after this transaction commits."""
    if (user_id is None) == (shop_id is None):
        raise ValueError("notify a user or a shop")
    outbox.enqueue(
        session,
        EVENT_TOPIC,
        {
            "event": event.value,
            "key": key,
            "params": dict(params),
            "user_id": user_id,
            "shop_id": shop_id,
        },
    )


async def record(
    session: AsyncSession, payload: Mapping[str, Any], wechat_app: str = ""
) -> list[int]:
    """Keep the notification and queue its deliveries (the outbox's handler, in a transaction
    of its own); the new deliveries' ids, none for a duplicate. WeChat messages go to the
    user's openid in `wechat_app`, the app that sends them (any app's: the console's)."""
    user_id = payload["user_id"]
    if user_id is None:
        user_id = await session.scalar(select(Shop.owner_id).where(Shop.id == payload["shop_id"]))
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None:
        return []
    event = Event(payload["event"])
    notification_id = await session.scalar(
        db.insert_new(session, _notifications),
        {
            "user_id": user.id,
            "event": event.value,
            "key": str(payload["key"])[:120],
            "params": payload["params"],
            "created_at": clock.now(),
            "read_at": None,
        },
    )
    if notification_id is None:
        return []  # told before
    wanted = await channels_for(session, user, event)
    addresses = {Channel.sms: user.phone, Channel.wechat: await _openid(session, user, wechat_app)}
    deliveries = [
        Delivery(
            notification_id=notification_id,
            channel=channel.value,
            address=address,
            status="queued",
            attempts=0,
            last_error="",
            created_at=clock.now(),
        )
        for channel in CHOSEN
        if wanted[channel] and (address := addresses[channel])
    ]
    session.add_all(deliveries)
    await session.flush()
    for delivery in deliveries:
        outbox.enqueue(session, DELIVER_TOPIC, {"delivery_id": delivery.id})
    return [delivery.id for delivery in deliveries]


async def _openid(session: AsyncSession, user: User, appid: str) -> str | None:
    query = select(WeChatIdentity.openid).where(WeChatIdentity.user_id == user.id)
    if appid:
        query = query.where(WeChatIdentity.appid == appid)
    return await session.scalar(query.order_by(WeChatIdentity.id).limit(1))


# --- preferences ------------------------------------------------------------------------------


async def channels_for(session: AsyncSession, user: User, event: Event) -> dict[Channel, bool]:
    """Whether the user wants `event` by each channel: their choice, else the default."""
    chosen = {
        Channel(channel): enabled
        for channel, enabled in await session.execute(
            select(Preference.channel, Preference.enabled).where(
                Preference.user_id == user.id, Preference.event == event.value
            )
        )
    }
    defaults = {Channel.inbox: True, Channel.sms: KINDS[event].sms, Channel.wechat: True}
    return {channel: chosen.get(channel, default) for channel, default in defaults.items()}


async def sides_of(session: AsyncSession, user: User) -> tuple[Side, ...]:
    """Whose notifications the user may get: a buyer's, and a shop's when they own one."""
    owns_shop = await shops.get_for_owner(session, user) is not None
    return (Side.merchant, Side.buyer) if owns_shop else (Side.buyer,)


async def preferences(
    session: AsyncSession, user: User, sides: tuple[Side, ...]
) -> dict[Event, dict[Channel, bool]]:
    """Every event the user may get (a merchant's and a buyer's), by channel."""
    events = list(dict.fromkeys(event for side in sides for event in events_for(side)))
    return {event: await channels_for(session, user, event) for event in events}


async def set_preferences(
    session: AsyncSession, user: User, choices: Mapping[str, Mapping[str, bool]]
) -> None:
    """Set the user's choices ({event: {channel: on}}); the inbox cannot be turned off."""
    for event_name, by_channel in choices.items():
        if event_name not in Event.__members__:
            raise InvalidInput(_("No such notification."), code="unknown_event", field="event")
        for channel_name, enabled in by_channel.items():
            if channel_name not in {channel.value for channel in CHOSEN}:
                raise InvalidInput(
                    _("Only SMS and WeChat messages can be turned off."),
                    code="unknown_channel",
                    field="channel",
                )
            found = await session.get(Preference, (user.id, event_name, channel_name))
            if found is None:
                session.add(
                    Preference(
                        user_id=user.id, event=event_name, channel=channel_name, enabled=enabled
                    )
                )
            else:
                found.enabled = enabled


# --- given up ---------------------------------------------------------------------------------


async def given_up(session: AsyncSession, *, limit: int = 100) -> list[tuple[Delivery, str]]:
    """Deliveries marked failed, newest first, with their event (the operator's list)."""
    rows = await session.execute(
        select(Delivery, Notification.event)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.status == "failed")
        .order_by(Delivery.finished_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    return [(delivery, event) for delivery, event in rows]


# --- the inbox --------------------------------------------------------------------------------


async def inbox(
    session: AsyncSession, user: User, *, page: int = 1
) -> tuple[list[Notification], bool]:
    """The user's notifications, newest first, a page of them, and whether more follow."""
    found = list(
        await session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(PER_PAGE + 1)
            .offset((page - 1) * PER_PAGE)
        )
    )
    return found[:PER_PAGE], len(found) > PER_PAGE


async def unread(session: AsyncSession, user_id: int) -> int:
    """How many the user has not read (the badge)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


async def mark_read(session: AsyncSession, user: User) -> int:
    """Every notification of the user read; how many were not."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
