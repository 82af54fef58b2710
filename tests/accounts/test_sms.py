"""The console SMS backend (demo, development): each message is logged at INFO, an everyday
event rather than a warning, and kept for the SMS inbox."""

import logging

import pytest

from pocketshop.accounts.sms import ConsoleSmsSender, make_sender


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
