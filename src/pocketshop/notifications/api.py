"""A user's notifications through the API: the inbox, marking it read, and the channels each
notification comes by. Texts are made in the asker's language when asked."""

from typing import Annotated

from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import ApiUser
from pocketshop.accounts.models import User
from pocketshop.i18n import _
from pocketshop.notifications import service
from pocketshop.notifications.events import KINDS, Channel
from pocketshop.notifications.inbox import inbox_page
from pocketshop.notifications.schemas import (
    ChannelsOut,
    EventSettingOut,
    InboxOut,
    MarkedReadOut,
    NotificationOut,
    SettingsIn,
    SettingsOut,
)
from pocketshop.web.routing import AppSettings, Session, api_router

router = api_router(prefix="/api/v1", tags=["notifications"])

Page = Annotated[int, Query(ge=1, le=10_000)]


async def settings_of(session: AsyncSession, user: User) -> list[EventSettingOut]:
    """Each notification the user may get, with the channels it comes by."""
    chosen = await service.preferences(session, user, await service.sides_of(session, user))
    return [
        EventSettingOut(
            event=event,
            label=_(KINDS[event].label),
            channels=ChannelsOut(
                inbox=True, sms=channels[Channel.sms], wechat=channels[Channel.wechat]
            ),
        )
        for event, channels in chosen.items()
    ]


@router.get("/me/notifications")
async def my_notifications(
    session: Session, settings: AppSettings, user: ApiUser, page: Page = 1
) -> InboxOut:
    """The user's notifications, newest first, 20 a page."""
    rows, has_next = await inbox_page(session, settings, user, page)
    items = [NotificationOut.model_validate(row, from_attributes=True) for row in rows]
    return InboxOut(
        items=items, page=page, has_next=has_next, unread=await service.unread(session, user.id)
    )


@router.post("/me/notifications/read")
async def mark_my_notifications_read(session: Session, user: ApiUser) -> MarkedReadOut:
    """Every notification of the user read."""
    return MarkedReadOut(marked=await service.mark_read(session, user))


@router.get("/me/notification-settings")
async def my_notification_settings(session: Session, user: ApiUser) -> SettingsOut:
    return SettingsOut(events=await settings_of(session, user))


@router.put("/me/notification-settings")
async def set_my_notification_settings(
    body: SettingsIn, session: Session, user: ApiUser
) -> SettingsOut:
    """Turn SMS and WeChat messages on or off, by notification; the inbox stays on."""
    await service.set_preferences(
        session, user, {event.value: choice.chosen() for event, choice in body.choices.items()}
    )
    await session.flush()
    return SettingsOut(events=await settings_of(session, user))
