"""The transaction boundary: commit on success, roll back on error, keep counted tries."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.accounts.models import SmsCode, User
from pocketshop.db import Database, new_row, released, table_of
from pocketshop.errors import InvalidInput
from pocketshop.payments.models import Withdrawal


async def count_users(db: Database) -> int:
    async with db.transaction(write=False) as session:
        return await session.scalar(select(func.count()).select_from(User)) or 0


async def test_commit_on_success_and_rollback_on_error(db: Database) -> None:
    async with db.transaction() as session:
        session.add(User(phone="+8613800000001", created_at=clock.now()))

    async def refused() -> None:
        async with db.transaction() as session:
            session.add(User(phone="+8613800000002", created_at=clock.now()))
            await session.flush()
            raise InvalidInput("refused")

    with pytest.raises(InvalidInput):
        await refused()
    assert await count_users(db) == 1


async def test_errors_that_keep_changes_commit_what_was_flushed(db: Database) -> None:
    async def counted() -> None:
        async with db.transaction() as session:
            session.add(User(phone="+8613800000003", created_at=clock.now()))
            await session.flush()
            raise InvalidInput("counted", keep_changes=True)

    with pytest.raises(InvalidInput):
        await counted()
    assert await count_users(db) == 1


async def test_released_commits_and_lets_others_write_while_waiting(db: Database) -> None:
    """What a payment provider's answer is waited on in: the work so far committed, and
    another writer not held up (on SQLite, not queued behind the write lock)."""
    other_wrote = asyncio.Event()

    async def other_writer() -> None:
        async with db.transaction() as session:
            session.add(User(phone="+8613800000006", created_at=clock.now()))
        other_wrote.set()

    async with db.transaction() as session:
        session.add(User(phone="+8613800000005", created_at=clock.now()))
        async with released(session):
            assert await count_users(db) == 1  # committed before the wait
            writer = asyncio.create_task(other_writer())
            await asyncio.wait_for(other_wrote.wait(), timeout=10)
        session.add(User(phone="+8613800000007", created_at=clock.now()))
    await writer
    assert await count_users(db) == 3


async def test_times_come_back_in_utc(db: Database) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with db.transaction() as session:
        session.add(User(phone="+8613800000004", created_at=moment))
    async with db.transaction(write=False) as session:
        stored = await session.scalar(select(User.created_at))
    assert stored == moment
    assert stored is not None
    assert stored.tzinfo is not None


async def test_concurrent_writes_queue_instead_of_failing(
    client: httpx.AsyncClient, db: Database
) -> None:
    phones = [f"1380013{n:04d}" for n in range(20)]
    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/sms-codes", json={"phone": phone}) for phone in phones)
    )
    assert [r.status_code for r in responses] == [202] * 20
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(SmsCode)) == 20


def test_a_new_row_gets_nulls_and_plain_defaults_and_must_name_the_rest() -> None:
    table = table_of(Withdrawal)
    given = {
        "public_id": "w1",
        "shop_id": 1,
        "amount": 10_000,
        "currency": "CNY",
        "status": "requested",
        "bank_code": "ICBC",
        "card_last4": "1234",
        "holder_name": "李雷",
        "requested_by": 1,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    row = new_row(table, given)
    assert row == given | {
        "idempotency_key": None,
        "payout_ref": None,
        "finished_at": None,
        "failure": "",
    }
    assert set(row) == {column.name for column in table.c} - {"id"}
    with pytest.raises(ValueError, match=r"withdrawals columns missing: \['amount', 'status'\]"):
        new_row(table, {k: v for k, v in given.items() if k not in ("amount", "status")})
