"""How a message leaves: each channel (SMS, WeChat) delivers one message to one address, or
says why not. The delivery job (notifications.delivery) retries what may work later and gives
up, visibly, on what never will."""

import logging
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class NotDeliveredYet(Exception):
    """The other side failed for now (timeout, busy, rate limit): try again later."""


class Undeliverable(Exception):
    """It will never go through as it is (the user refused such messages, no such user, a
    template that does not fit): do not try again."""


@dataclass(frozen=True)
class Message:
    """One notification as a channel sends it, already in the recipient's language."""

    event: str  # notifications.events.Event value, e.g. "order_paid"
    title: str  # a short line: "New paid order"
    body: str  # one or two sentences, for SMS and the inbox
    link: str  # path in the app the message leads to, e.g. "/console/orders/2026..."
    # Named values for structured channels (WeChat templates): the event's facts as shown,
    # e.g. "number" (an order's), "amount" ("¥12.00"), "time" ("2026-12-04 14:00", local),
    # "title" (what it is about), "status".
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    address: str
    message: Message


class ConsoleWeChat:
    """WeChat messages logged, not sent (the demo's and development's backend); the last
    `keep` are remembered."""

    def __init__(self, keep: int = 50) -> None:
        self.sent: deque[Sent] = deque(maxlen=keep)

    async def deliver(self, address: str, message: Message) -> None:
        log.info("WeChat message to %s: %s — %s", address, message.title, message.body)
        self.sent.appendleft(Sent(address, message))
