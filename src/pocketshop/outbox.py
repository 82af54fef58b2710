"""The transactional outbox: side effects are rows written in the caller's transaction.

`enqueue` adds a row; after the request commits, `drain` delivers due rows, each claimed by
one conditional UPDATE so several workers never deliver the same row twice. A failed
delivery is retried later with back-off; rows are never lost with a crash after commit.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop import clock
from pocketshop.db import Base, Database, UTCDateTime

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
MAX_ATTEMPTS = 8
CLAIM_SECONDS = 60


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Due time; a claimed row is pushed forward so a crashed worker's claim expires.
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


def enqueue(session: AsyncSession, topic: str, payload: dict[str, Any]) -> None:
    now = clock.now()
    session.add(
        OutboxMessage(topic=topic, payload=payload, created_at=now, available_at=now, attempts=0)
    )
    session.info["outbox_queued"] = True


async def drain(db: Database, handlers: dict[str, Handler], *, limit: int = 100) -> int:
    """Deliver due messages; returns how many were delivered."""
    delivered = 0
    async with db.transaction(write=False) as session:
        due_ids = list(
            await session.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.delivered_at.is_(None),
                    OutboxMessage.available_at <= clock.now(),
                    OutboxMessage.attempts < MAX_ATTEMPTS,
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        )
    for message_id in due_ids:
        message = await _claim(db, message_id)
        if message is None:
            continue
        handler = handlers.get(message.topic)
        try:
            if handler is None:
                raise LookupError(f"no handler for topic {message.topic!r}")
            await handler(message.payload)
        except Exception as exc:
            log.exception("outbox message %s (%s) failed", message.id, message.topic)
            await _record_failure(db, message, exc)
        else:
            await _record_delivery(db, message)
            delivered += 1
    return delivered


async def _claim(db: Database, message_id: int) -> OutboxMessage | None:
    now = clock.now()
    async with db.transaction() as session:
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.available_at <= now,
            )
            .values(
                available_at=now + timedelta(seconds=CLAIM_SECONDS),
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await session.get(OutboxMessage, message_id)


async def _record_delivery(db: Database, message: OutboxMessage) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(delivered_at=clock.now(), payload=_redacted(message.payload), last_error=None)
        )


async def _record_failure(db: Database, message: OutboxMessage, exc: Exception) -> None:
    backoff = timedelta(seconds=min(2**message.attempts * 5, 3600))
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(
                available_at=clock.now() + backoff,
                last_error=repr(exc)[:2000],
                # Given up: the secret will never be sent, so it need not be kept.
                payload=_redacted(message.payload)
                if message.attempts >= MAX_ATTEMPTS
                else message.payload,
            )
        )


def _redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """Secrets (login codes) are kept only until delivered."""
    return {
        key: ("***" if key in payload.get("secret_fields", ()) else value)
        for key, value in payload.items()
    }
