"""A provider's notices: kept, answered, then acted on.

A verified notice is kept at once, in a statement of its own (`keep`), and answered; acting on
it (`act_on`: the order's lock, the money) comes after the answer has gone, so a busy order
never delays the answer past a provider's deadline (WeChat Pay waits 5 s, then sends again).
The provider is answered 2xx only once the notice is kept: what it said is never lost. Acting
claims the notice with one conditional UPDATE, so the same notice arriving ten times at once
is acted on once; acting that fails is rolled back whole and taken up again by the job
(`due`), on the retry schedule, the operator told past its cap.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.db import Database, new_row, table_of
from pocketshop.payments import anomalies, retries, service
from pocketshop.payments.models import ProviderNotice
from pocketshop.payments.providers import Notice, Providers

log = logging.getLogger(__name__)

_notices = table_of(ProviderNotice)
_NOTICE_ID = select(_notices.c.id).where(
    _notices.c.provider == bindparam("provider"), _notices.c.event_key == bindparam("event_key")
)
# The claim reads what acting needs in the same statement.
_CLAIM = (
    update(_notices)
    .where(_notices.c.id == bindparam("notice_id"), _notices.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"))
    .returning(_notices.c.provider, _notices.c.facts)
)
_OUTCOME = (
    update(_notices)
    .where(_notices.c.id == bindparam("notice_id"))
    .values(outcome=bindparam("outcome"))
)


def row(provider: str, notice: Notice, body: bytes) -> dict[str, Any]:
    """The row that keeps a verified notice: the raw body as received, and what it says."""
    return new_row(
        _notices,
        {
            "provider": provider,
            "event_key": notice.event_key[:96],
            "kind": notice.kind,
            "body": body.decode("utf-8", "replace"),
            "facts": notice.facts(),
            "received_at": clock.now(),
            "outcome": "",
            "attempts": 0,
        },
    )


async def keep(db: Database, provider: str, notice: Notice, body: bytes) -> int:
    """Keep a verified notice, committed before it is answered (once: the provider's retries
    are the same event); its id."""
    kept = row(provider, notice, body)
    notice_id = await db.insert_alone(_notices, kept)
    if notice_id is not None:
        return notice_id
    async with db.transaction(write=False) as session:
        found = await session.scalar(
            _NOTICE_ID, {"provider": provider, "event_key": kept["event_key"]}
        )
    if found is None:
        raise RuntimeError("a notice that conflicted on insert is not there")
    return int(found)


@dataclass(frozen=True)
class Acted:
    outcome: str  # "" when another worker had it, or acting failed
    outbox_queued: bool = False


async def act_on(db: Database, settings: Settings, providers: Providers, notice_id: int) -> Acted:
    """Act on a kept notice in a transaction of its own, once. When acting fails it is rolled
    back whole, and the failed try counted for the job to try again."""
    try:
        async with db.transaction() as session:
            outcome = await process(session, settings, providers, notice_id)
            queued = bool(session.info.get("outbox_queued"))
        return Acted(outcome, queued)
    except Exception as exc:
        log.exception("payments: acting on notice %s failed; the job tries again", notice_id)
        async with db.transaction() as session:
            await failed(session, notice_id, repr(exc))
        return Acted("")


async def process(
    session: AsyncSession, settings: Settings, providers: Providers, notice_id: int
) -> str:
    """Act on a kept notice, once; the outcome ("" when another worker has it)."""
    claimed = (await session.execute(_CLAIM, {"notice_id": notice_id, "at": clock.now()})).first()
    if claimed is None:
        return ""
    provider, facts = claimed
    notice = Notice.from_facts(facts)
    outcome = await service.apply(
        session, settings, providers, provider, notice, notice_id=notice_id
    )
    await session.execute(_OUTCOME, {"notice_id": notice_id, "outcome": outcome})
    return outcome


async def failed(session: AsyncSession, notice_id: int, error: str) -> None:
    """Acting on a kept notice failed (and was rolled back): try again later; past the cap
    the operator is told."""
    notice = await session.get_one(ProviderNotice, notice_id)
    if retries.tried(notice, due="next_try_at"):
        await anomalies.record(
            session,
            provider=notice.provider,
            kind="notice_overdue",
            notice_id=notice.id,
            details={**notice.facts, "error": error[:500], "attempts": notice.attempts},
        )


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Kept notices not acted on: their acting failed, or never ran (a crash between the
    answer and the work), a while ago; or they are due again."""
    fresh_until = now - retries.FIRST
    return list(
        await session.scalars(
            select(ProviderNotice.id)
            .where(
                ProviderNotice.processed_at.is_(None),
                (
                    (ProviderNotice.next_try_at.is_(None))
                    & (ProviderNotice.received_at <= fresh_until)
                )
                | (ProviderNotice.next_try_at <= now),
            )
            .order_by(ProviderNotice.received_at)
            .limit(limit)
        )
    )
