"""The console SMS backend (demo, development): each message is logged at INFO, an everyday
event rather than a warning, and kept for the SMS inbox, which shows it in local time."""

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.accounts.sms import ConsoleSmsSender, make_sender
from pocketshop.config import Settings


async def test_a_message_is_logged_at_info_and_kept_for_the_inbox(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = make_sender("console")
    assert isinstance(sender, ConsoleSmsSender)
    with caplog.at_level(logging.INFO, logger="pocketshop.accounts.sms"):
        await sender.send("+8613800138000", "您的验证码为 123456")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == "SMS to +8613800138000: 您的验证码为 123456"
    assert [(sent.phone, sent.text) for sent in sender.sent] == [
        ("+8613800138000", "您的验证码为 123456")
    ]


def test_an_unknown_backend_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown SMS backend 'carrier-pigeon'"):
        make_sender("carrier-pigeon")


async def test_the_demo_inbox_shows_local_time_and_phones_as_written(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    sender = app.state.sms
    assert isinstance(sender, ConsoleSmsSender)
    await sender.send("+8613800138000", "您的验证码为 654321")
    sent_at = sender.sent[0].sent_at
    local = sent_at.astimezone(ZoneInfo(settings.default_timezone))
    assert local.utcoffset() == timedelta(hours=8)  # Asia/Shanghai
    inbox = await client.get("/dev/sms")
    assert inbox.status_code == 200
    assert f"138 0013 8000 · {local:%m-%d %H:%M:%S}" in inbox.text
    assert "UTC" not in inbox.text
