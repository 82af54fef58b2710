"""JSON shapes of a user's notifications: their inbox and which channels tell them what."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from pocketshop.accounts.schemas import StrictModel
from pocketshop.notifications.events import Event


class NotificationOut(BaseModel):
    id: str
    event: Event
    title: str = Field(description="in the asker's language")
    body: str = Field(description="in the asker's language")
    link: str = Field(description="path of the page it is about", examples=["/me/orders/2026"])
    created_at: datetime
    read: bool


class InboxOut(BaseModel):
    items: list[NotificationOut] = Field(description="newest first")
    page: int
    has_next: bool
    unread: int = Field(description="how many of all the user's notifications are unread")


class MarkedReadOut(BaseModel):
    marked: int = Field(description="how many were unread until now")


class ChannelsOut(BaseModel):
    inbox: Literal[True] = Field(description="always: the inbox keeps every notification")
    sms: bool
    wechat: bool = Field(description="sent once the user has logged in with WeChat")


class EventSettingOut(BaseModel):
    event: Event
    label: str = Field(description="in the asker's language")
    channels: ChannelsOut


class SettingsOut(BaseModel):
    events: list[EventSettingOut] = Field(
        description="every notification the user may get: a buyer's, and a shop's for its owner"
    )


class ChannelChoicesIn(StrictModel):
    inbox: Literal[True] = Field(
        default=True, description="the inbox cannot be turned off: only true is accepted"
    )
    sms: StrictBool | None = Field(default=None, description="omit to keep the current choice")
    wechat: StrictBool | None = Field(default=None, description="omit to keep the current choice")

    def chosen(self) -> dict[str, bool]:
        """The channels this choice changes."""
        return {
            channel: enabled
            for channel, enabled in (("sms", self.sms), ("wechat", self.wechat))
            if enabled is not None
        }


class SettingsIn(StrictModel):
    choices: dict[Event, ChannelChoicesIn] = Field(
        description="by event, the channels to turn on (true) or off (false); others stay",
        examples=[{"order_paid": {"sms": False}}],
    )
