"""The timed-work mechanism: sweeps list due ids and handle each in its own transaction; one
failing row neither stops the others nor is lost; the loop runs them all."""

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, jobs
from pocketshop.accounts.models import User
from pocketshop.db import Database
from tests.commerce import one_sku_and_buyer, order_row, ordered


def counting_sweep(due_ids: list[int], handled: list[int], failing: set[int]) -> jobs.Sweep:
    async def due(_session: AsyncSession, _now: datetime, limit: int) -> Sequence[int]:
        return [item for item in due_ids if item not in handled][:limit]

    async def step(session: AsyncSession, item: int) -> bool:
        # Writes something, so a failure must roll this item's transaction back.
        session.add(User(phone=f"+861380000{item:04d}", created_at=clock.now()))
        await session.flush()
        if item in failing:
            raise RuntimeError("broken row")
        handled.append(item)
        return True

    return jobs.Sweep("test", due, step)


async def users(db: Database) -> list[str]:
    async with db.transaction(write=False) as session:
        return list(await session.scalars(select(User.phone).order_by(User.phone)))


async def test_a_failing_row_does_not_stop_the_others(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[int] = []
    sweep = counting_sweep([1, 2, 3, 4], handled, failing={2})
    assert await jobs.run_sweep(db, sweep) == jobs.Round(listed=4, done=3)
    assert handled == [1, 3, 4]
    # The failed row's own writes were rolled back; it stays due for the next round.
    assert await users(db) == ["+8613800000001", "+8613800000003", "+8613800000004"]
    assert "job test failed on 2" in caplog.text
    assert await jobs.run_sweep(db, sweep) == jobs.Round(listed=1, done=0)
    assert handled == [1, 3, 4]


def batches_of_three(monkeypatch: pytest.MonkeyPatch) -> None:
    original = jobs.run_sweep

    async def small_batches(database: Database, swept: jobs.Sweep, *, batch: int = 3) -> jobs.Round:
        return await original(database, swept, batch=batch)

    monkeypatch.setattr(jobs, "BATCH", 3)
    monkeypatch.setattr(jobs, "run_sweep", small_batches)


async def test_run_due_drains_in_batches(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    handled: list[int] = []
    sweep = counting_sweep(list(range(1, 8)), handled, failing=set())
    batches_of_three(monkeypatch)
    assert await jobs.run_due(db, [sweep]) == {"test": 7}
    assert sorted(handled) == list(range(1, 8))
    assert await jobs.run_due(db, [sweep]) == {"test": 0}


async def test_run_due_goes_on_when_another_worker_took_part_of_a_batch(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[int] = []
    taken_by_the_other_worker = {2, 3}
    sweep = counting_sweep(list(range(1, 8)), handled, failing=set())
    step = sweep.step

    async def sometimes_too_late(session: AsyncSession, item: int) -> bool:
        if item in taken_by_the_other_worker:
            handled.append(item)  # done by the other worker: nothing left to change here
            return False
        return await step(session, item)

    batches_of_three(monkeypatch)
    raced = jobs.Sweep("test", sweep.due, sometimes_too_late)
    # The first batch (1, 2, 3) changes only one row: the rest is still drained.
    assert await jobs.run_due(db, [raced]) == {"test": 5}
    assert sorted(handled) == list(range(1, 8))


async def test_the_embedded_worker_closes_unpaid_orders(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    clock.advance(timedelta(minutes=31))
    worker = asyncio.create_task(jobs.run_forever(db, 0.01, app.state.runtime.sweeps))
    try:
        for _ in range(500):
            if (await order_row(app, number)).status == "closed":
                break
            await asyncio.sleep(0.01)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert (await order_row(app, number)).status == "closed"
