"""The channels a server or worker sends notifications with, and the outbox handlers that
record and deliver them."""

import httpx

from pocketshop import outbox
from pocketshop.accounts.sms import SmsSender
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.notifications import delivery, service
from pocketshop.notifications.channels import ConsoleWeChat
from pocketshop.notifications.delivery import Senders, WeChatChannel
from pocketshop.notifications.wechat import WeChatMessages, parse_templates


def make_wechat(settings: Settings, http: httpx.AsyncClient) -> WeChatChannel:
    if settings.wechat_messages_backend == "console":
        return ConsoleWeChat()
    if settings.wechat_messages_backend == "api":
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            raise ValueError(
                "the api WeChat messages backend needs POCKETSHOP_WECHAT_APP_ID and "
                "POCKETSHOP_WECHAT_APP_SECRET"
            )
        return WeChatMessages(
            appid=settings.wechat_app_id,
            secret=settings.wechat_app_secret,
            http=http,
            gateway=settings.wechat_api_gateway,
            templates=parse_templates(settings.wechat_templates),
        )
    raise ValueError(
        f"unknown WeChat messages backend {settings.wechat_messages_backend!r} "
        "(available: console, api)"
    )


def outbox_handlers(
    db: Database, settings: Settings, senders: Senders
) -> dict[str, outbox.Handler]:
    async def record(payload: dict[str, object]) -> None:
        async with db.transaction() as session:
            await service.record(session, payload, settings.wechat_app_id)

    async def deliver(payload: dict[str, object]) -> None:
        await delivery.deliver(db, settings, senders, int(str(payload["delivery_id"])))

    return {service.EVENT_TOPIC: record, service.DELIVER_TOPIC: deliver}


def senders(settings: Settings, sms: SmsSender, http: httpx.AsyncClient) -> Senders:
    return Senders(sms=sms, wechat=make_wechat(settings, http))
