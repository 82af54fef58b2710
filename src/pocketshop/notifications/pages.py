"""A user's notifications as pages: the inbox (newest first, the unread ones marked, each
leading to what it is about) and the settings grid of which notifications also come by SMS or
WeChat. The inbox keeps every one of them, so it cannot be turned off."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import PageUser
from pocketshop.accounts.models import User
from pocketshop.i18n import N_, _
from pocketshop.notifications import service
from pocketshop.notifications.api import settings_of
from pocketshop.notifications.events import Event, Side, events_for
from pocketshop.notifications.inbox import inbox_page
from pocketshop.notifications.schemas import EventSettingOut
from pocketshop.web.routing import AppSettings, Session, page_router
from pocketshop.web.templating import render

router = page_router()

PageNumber = Annotated[int, Query(ge=1, le=10_000)]
Events = Annotated[list[str] | None, Form(max_length=32)]
NOTICES = {
    "read": N_("All notifications marked as read."),
    "saved": N_("Your notification settings are saved."),
}


def _notice(request: Request) -> str | None:
    key = request.query_params.get("done", "")
    return _(NOTICES[key]) if key in NOTICES else None


@router.get("/me/notifications")
async def my_notifications(
    request: Request, session: Session, settings: AppSettings, user: PageUser, page: PageNumber = 1
) -> HTMLResponse:
    items, has_next = await inbox_page(session, settings, user, page)
    return render(
        request,
        "notifications/inbox.html",
        {
            "items": items,
            "page": page,
            "has_next": has_next,
            "unread": await service.unread(session, user.id),
            "notice": _notice(request),
        },
    )


@router.post("/me/notifications/read")
async def mark_read(session: Session, user: PageUser) -> RedirectResponse:
    await service.mark_read(session, user)
    return RedirectResponse("/me/notifications?done=read", status_code=303)


@dataclass(frozen=True)
class Group:
    """Rows of the settings grid under one heading (none for a user who is only a buyer)."""

    heading: str
    rows: list[EventSettingOut]


async def _groups(session: AsyncSession, user: User) -> list[Group]:
    rows = await settings_of(session, user)
    if Side.merchant not in await service.sides_of(session, user):
        return [Group("", rows)]
    shop = set(events_for(Side.merchant))
    return [
        Group(_("Your shop"), [row for row in rows if row.event in shop]),
        Group(_("Your purchases"), [row for row in rows if row.event not in shop]),
    ]


@router.get("/me/notifications/settings")
async def notification_settings(request: Request, session: Session, user: PageUser) -> HTMLResponse:
    return render(
        request,
        "notifications/settings.html",
        {
            "groups": await _groups(session, user),
            "phone": accounts.display_phone(user.phone) if user.phone else "",
            "notice": _notice(request),
        },
    )


@router.post("/me/notifications/settings")
async def save_notification_settings(
    session: Session,
    user: PageUser,
    event: Events = None,
    sms: Events = None,
    wechat: Events = None,
) -> RedirectResponse:
    """The grid as posted: each row it showed (`event`) by SMS and by WeChat when its box is
    ticked, and not when it is not (a browser sends only the ticked boxes)."""
    shown = {row.event for row in await settings_of(session, user)}
    on_sms, on_wechat = set(sms or ()), set(wechat or ())
    choices = {
        name: {"sms": name in on_sms, "wechat": name in on_wechat}
        for name in dict.fromkeys(event or ())
        if name in Event.__members__ and Event(name) in shown
    }
    await service.set_preferences(session, user, choices)
    return RedirectResponse("/me/notifications/settings?done=saved", status_code=303)
