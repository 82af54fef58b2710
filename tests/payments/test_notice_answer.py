"""A provider's notice is answered as soon as it is kept, whatever holds up acting on it
(WeChat Pay waits 5 s for the answer, then sends the notice again): against a real server."""

import asyncio
import threading
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url

from pocketshop.app import create_app
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.payments import service
from pocketshop.payments.models import ProviderNotice
from tests.commerce import order_row
from tests.conftest import is_postgres
from tests.payments.money import notification, sandbox_trade
from tests.payments.test_notifications import paid_at_the_sandbox
from tests.servers import serving

NOTIFY = "/api/v1/payments/sandbox/notify"
WECHAT_WAITS = 5.0


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a port of its own, beside the test's own app."""
    with serving(lambda _url: create_app(settings), probe="/healthz") as (url, _app):
        yield url


async def until_paid(app: FastAPI, number: str) -> None:
    """The order is paid within 20 s (acted on after the answer)."""
    for _ in range(400):
        if (await order_row(app, number)).status == "paid":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {number} was not paid after its notice")


async def test_the_answer_does_not_wait_for_acting(
    app: FastAPI, client: httpx.AsyncClient, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no))
    go_on = threading.Event()
    really_apply = service.apply

    async def held_up(*args: object, **kwargs: object) -> str:
        await asyncio.to_thread(go_on.wait, 30)
        return await really_apply(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "apply", held_up)
    try:
        async with httpx.AsyncClient(base_url=server, timeout=WECHAT_WAITS) as provider:
            answer = await provider.post(NOTIFY, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert (await order_row(app, number)).status == "pending_payment"  # not acted on yet
    finally:
        go_on.set()
    await until_paid(app, number)


@pytest.mark.skipif(not is_postgres(), reason="a row lock held by another connection")
async def test_an_order_row_busy_for_seven_seconds_does_not_hold_up_the_answer(
    app: FastAPI, client: httpx.AsyncClient, server: str, settings: Settings
) -> None:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no))
    parsed = make_url(settings.database_url)
    other = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database=parsed.database
    )
    try:
        holding = other.transaction()
        await holding.start()
        await other.execute("SELECT 1 FROM orders WHERE number = $1 FOR UPDATE", number)
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=server, timeout=WECHAT_WAITS) as provider:
            answer = await provider.post(NOTIFY, content=body, headers=headers)
        waited = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert waited < 2, waited
        await asyncio.sleep(7 - waited)
        assert (await order_row(app, number)).status == "pending_payment"
        await holding.rollback()
    finally:
        await other.close()
    await until_paid(app, number)


async def test_a_notice_that_cannot_be_kept_is_refused_to_come_again(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answered 2xx only once kept: with the database out of reach the provider is told to
    send the notice again, and nothing was acted on."""
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    body, headers = notification(app, await sandbox_trade(app, out_trade_no))

    async def out_of_reach(*_args: object) -> None:
        raise ConnectionRefusedError("the database is out of reach")

    monkeypatch.setattr(db, "insert_alone", out_of_reach)
    answer = await client.post(NOTIFY, content=body, headers=headers)
    assert answer.status_code == 503
    monkeypatch.undo()
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(ProviderNotice.id)) is None
    assert (await order_row(app, number)).status == "pending_payment"
