import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from pocketshop import clock, outbox
from pocketshop.db import Database
from pocketshop.outbox import OutboxMessage


async def queue(db: Database, topic: str, payload: dict[str, Any]) -> None:
    async with db.transaction() as session:
        outbox.enqueue(session, topic, payload)


async def messages(db: Database) -> list[OutboxMessage]:
    async with db.transaction(write=False) as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_delivers_once_and_redacts_secrets(db: Database) -> None:
    delivered: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> None:
        delivered.append(payload)

    await queue(db, "t", {"to": "a", "text": "code 123456", "secret_fields": ["text"]})
    assert await outbox.drain(db, {"t": handler}) == 1
    assert await outbox.drain(db, {"t": handler}) == 0
    assert [p["text"] for p in delivered] == ["code 123456"]
    (row,) = await messages(db)
    assert row.delivered_at is not None
    assert row.payload["text"] == "***"
    assert row.payload["to"] == "a"


async def test_rolled_back_transaction_queues_nothing(db: Database) -> None:
    class Boom(Exception):
        pass

    try:
        async with db.transaction() as session:
            outbox.enqueue(session, "t", {})
            raise Boom
    except Boom:
        pass
    assert await messages(db) == []


async def test_failure_is_retried_later_with_backoff(db: Database) -> None:
    calls = 0

    async def flaky(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("provider down")

    await queue(db, "t", {})
    assert await outbox.drain(db, {"t": flaky}) == 0
    (row,) = await messages(db)
    assert row.delivered_at is None
    assert row.last_error is not None
    assert "provider down" in row.last_error
    # Not due again straight away...
    assert await outbox.drain(db, {"t": flaky}) == 0
    assert calls == 1
    # ...but after the back-off.
    clock.advance(timedelta(minutes=5))
    assert await outbox.drain(db, {"t": flaky}) == 1
    assert calls == 2


async def test_parallel_drains_deliver_each_message_once(db: Database) -> None:
    delivered: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        delivered.append(payload["n"])

    for n in range(20):
        await queue(db, "t", {"n": n})
    counts = await asyncio.gather(*(outbox.drain(db, {"t": handler}) for _ in range(4)))
    assert sum(counts) == 20
    assert sorted(delivered) == list(range(20))


async def test_unknown_topic_is_kept_for_later(db: Database) -> None:
    await queue(db, "nobody-listens", {})
    assert await outbox.drain(db, {}) == 0
    (row,) = await messages(db)
    assert row.delivered_at is None
    assert row.attempts == 1


async def test_secrets_are_dropped_when_delivery_is_given_up(db: Database) -> None:
    async def down(payload: dict[str, Any]) -> None:
        raise ConnectionError("provider down")

    await queue(db, "t", {"to": "a", "text": "code 123456", "secret_fields": ["text"]})
    for _attempt in range(outbox.MAX_ATTEMPTS):
        await outbox.drain(db, {"t": down})
        (row,) = await messages(db)
        if row.attempts < outbox.MAX_ATTEMPTS:
            assert row.payload["text"] == "code 123456"  # kept while a retry is due
        clock.advance(timedelta(hours=2))
    (row,) = await messages(db)
    assert row.attempts == outbox.MAX_ATTEMPTS
    assert row.delivered_at is None
    assert row.payload == {"to": "a", "text": "***", "secret_fields": ["text"]}
    assert await outbox.drain(db, {"t": down}) == 0
