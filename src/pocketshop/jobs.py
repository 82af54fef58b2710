"""Timed work: sweeps of rows whose due time has passed (unpaid timeout, auto-confirm...).

A sweep lists due ids in one short read, then handles each id in its own transaction. The
handling is a conditional state change, so it is idempotent and safe with several workers:
two workers that pick the same order both try, one wins, the other changes nothing. A step
that fails is rolled back whole and stays due. A sweep whose step waits on the outside world
(a provider, a bank) opens its transactions itself around the call (`CallSweep`). In the
embedded default the loop runs inside the server; `pocketshop worker` runs it apart.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pocketshop import clock
from pocketshop.db import Database

log = logging.getLogger(__name__)

BATCH = 200


@dataclass(frozen=True)
class Sweep:
    name: str
    # Ids due at `now`, at most `limit`.
    due: Callable[[AsyncSession, datetime, int], Awaitable[Sequence[int]]]
    # Handle one id in the transaction given; True when it changed something.
    step: Callable[[AsyncSession, int], Awaitable[bool]]


@dataclass(frozen=True)
class CallSweep:
    name: str
    due: Callable[[AsyncSession, datetime, int], Awaitable[Sequence[int]]]
    # Handle one id, opening its transactions itself; True when it changed something.
    step: Callable[[Database, int], Awaitable[bool]]


AnySweep = Sweep | CallSweep


async def due_ids(
    session: AsyncSession,
    column: InstrumentedAttribute[int],
    *conditions: ColumnElement[bool],
    order_by: InstrumentedAttribute[Any],
    limit: int,
) -> list[int]:
    """A sweep's `due`: the ids meeting `conditions`, the most overdue first."""
    return list(
        await session.scalars(select(column).where(*conditions).order_by(order_by).limit(limit))
    )


@dataclass(frozen=True)
class Round:
    listed: int  # ids found due
    done: int  # of those, changed by this worker


async def run_sweep(db: Database, sweep: AnySweep, *, batch: int = BATCH) -> Round:
    async with db.transaction(write=False) as session:
        due = list(await sweep.due(session, clock.now(), batch))
    done = 0
    for item_id in due:
        try:
            done += await _step(db, sweep, item_id)
        except Exception:
            # One bad row must not stop the others; it stays due and is retried next round.
            log.exception("job %s failed on %s", sweep.name, item_id)
    return Round(listed=len(due), done=done)


async def _step(db: Database, sweep: AnySweep, item_id: int) -> bool:
    if isinstance(sweep, CallSweep):
        return await sweep.step(db, item_id)
    async with db.transaction() as session:
        return await sweep.step(session, item_id)


async def run_due(db: Database, sweeps: Sequence[AnySweep]) -> dict[str, int]:
    """Run every sweep until nothing is due (or a round finds only rows it cannot change).

    A full batch means more may be due, though another worker took part of it: go on."""
    results: dict[str, int] = {}
    for sweep in sweeps:
        total = 0
        while True:
            found = await run_sweep(db, sweep)
            total += found.done
            if found.listed < BATCH or found.done == 0:
                break
        results[sweep.name] = total
    return results


async def run_forever(
    db: Database,
    interval: float,
    sweeps: Sequence[AnySweep],
    *,
    also: Sequence[Callable[[], Awaitable[object]]] = (),
) -> None:
    """The worker loop: the sweeps, then other periodic work (the outbox, the sandbox
    provider's notifications), every `interval`."""
    while True:
        try:
            done = await run_due(db, sweeps)
            if any(done.values()):
                log.info("jobs: %s", done)
            for work in also:
                await work()
        except Exception:
            log.exception("job round failed")
        await asyncio.sleep(interval)
