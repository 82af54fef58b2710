"""Sending SMS. Real providers come later; `console` logs messages (and keeps the latest few
for the dev inbox page, which exists only in the demo)."""

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pocketshop import clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentSms:
    phone: str
    text: str
    sent_at: datetime


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsSender:
    """Prints each message to the log; remembers the last `keep` for the dev inbox."""

    def __init__(self, keep: int = 50) -> None:
        self.sent: deque[SentSms] = deque(maxlen=keep)

    async def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)
        self.sent.appendleft(SentSms(phone=phone, text=text, sent_at=clock.now()))


def make_sender(backend: str) -> SmsSender:
    if backend == "console":
        return ConsoleSmsSender()
    raise ValueError(f"unknown SMS backend {backend!r} (available: console)")
