"""The transaction boundary: commit on success, roll back on error, keep counted tries."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts.models import SmsCode, User
from pocketshop.db import (
    Database,
    NestedTransaction,
    ReadOnly,
    attempt,
    for_update,
    held,
    insert_new_with,
    new_row,
    note_held,
    outside_transaction,
    table_of,
    update_with,
)
from pocketshop.errors import InvalidInput
from pocketshop.payments.models import MoneyEvent, Withdrawal


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


async def test_transactions_do_not_nest_and_nothing_outside_is_called_inside(
    db: Database,
) -> None:
    """A transaction inside another would wait for itself on SQLite's write lock, and a
    provider call inside one would hold its locks while the provider takes its time."""
    async with db.transaction() as session:
        session.add(User(phone="+8613800000005", created_at=clock.now()))
        with pytest.raises(NestedTransaction):
            async with db.transaction(write=False):
                pass
        with pytest.raises(NestedTransaction, match="a refund call inside a transaction"):
            outside_transaction("a refund call")
    outside_transaction("a refund call")  # between transactions: fine
    assert await count_users(db) == 1


async def _refused_attempt(session: AsyncSession, phone: str, error: InvalidInput) -> None:
    async with attempt(session):
        session.add(User(phone=phone, created_at=clock.now()))
        note_held(session, ("order", 2), "second")
        await session.flush()
        raise error


async def test_an_attempt_rolls_back_what_its_refused_call_wrote(db: Database) -> None:
    async with db.transaction() as session:
        session.add(User(phone="+8613800000010", created_at=clock.now()))
        note_held(session, ("order", 1), "first")
        with pytest.raises(InvalidInput):
            await _refused_attempt(session, "+8613800000011", InvalidInput("refused"))
        # PostgreSQL lets go of row locks taken since the savepoint: not counted as held.
        assert held(session, ("order", 1)) == "first"
        assert held(session, ("order", 2)) is None
        counted = InvalidInput("counted", keep_changes=True)
        with pytest.raises(InvalidInput):
            await _refused_attempt(session, "+8613800000012", counted)
    async with db.transaction(write=False) as session:
        phones = set(await session.scalars(select(User.phone)))
    assert phones == {"+8613800000010", "+8613800000012"}


async def test_rows_are_locked_only_in_a_write_transaction(db: Database) -> None:
    statement = select(User.id)
    async with db.transaction() as session:
        for_update(session, statement)
    if db.is_sqlite:
        async with db.transaction(write=False) as session:
            with pytest.raises(RuntimeError, match="outside a write transaction"):
                for_update(session, statement)


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
        "query_after": None,
        "attempts": 0,
    }
    assert set(row) == {column.name for column in table.c} - {"id"}
    with pytest.raises(ValueError, match=r"withdrawals columns missing: \['amount', 'status'\]"):
        new_row(table, {k: v for k, v in given.items() if k not in ("amount", "status")})


_users = table_of(User)
_events = table_of(MoneyEvent)
_NEW_PHONE = (
    update(_users)
    .where(_users.c.id == bindparam("row_id"), _users.c.phone == bindparam("was"))
    .values(phone=bindparam("phone"))
)


def an_event(to_status: str) -> dict[str, object]:
    """An event pointing nowhere yet; its reason left out (a plain default)."""
    return {
        "subject": "test",
        "from_status": None,
        "to_status": to_status,
        "actor": "system",
        "created_at": clock.now(),
    }


def a_user(phone: str) -> dict[str, object]:
    """A user's row; last_login_at left out (NULL)."""
    return {"public_id": phone[-8:], "phone": phone, "created_at": clock.now()}


async def written(
    session: AsyncSession,
) -> tuple[list[tuple[str, object]], list[tuple[int, str, str]]]:
    users = await session.execute(select(User.phone, User.last_login_at).order_by(User.id))
    events = await session.execute(
        select(MoneyEvent.subject_id, MoneyEvent.to_status, MoneyEvent.reason).order_by(
            MoneyEvent.id
        )
    )
    return [tuple(row) for row in users], [tuple(row) for row in events]


async def test_a_row_and_the_rows_pointing_at_it_are_inserted_together(db: Database) -> None:
    """One statement on PostgreSQL, three on SQLite: the same rows either way, and nothing
    at all when the row clashes."""
    async with db.transaction() as session:
        first = await insert_new_with(
            session,
            _users,
            a_user("+8613800000011"),
            [(_events, [an_event("a"), an_event("b")])],
            link="subject_id",
        )
        clash = await insert_new_with(
            session,
            _users,
            a_user("+8613800000011"),
            [(_events, [an_event("c")])],
            link="subject_id",
        )
    assert first is not None
    assert clash is None
    async with db.transaction(write=False) as session:
        assert await written(session) == (
            [("+8613800000011", None)],
            [(first, "a", ""), (first, "b", "")],
        )


async def test_an_update_and_its_event_are_written_together_or_not_at_all(db: Database) -> None:
    async with db.transaction() as session:
        row_id = await insert_new_with(
            session,
            _users,
            a_user("+8613800000012"),
            [(_events, [an_event("new")])],
            link="subject_id",
        )
        assert row_id is not None
        moved = await update_with(
            session,
            _NEW_PHONE,
            {"row_id": row_id, "was": "+8613800000012", "phone": "+8613800000013"},
            _events,
            an_event("moved"),
            link="subject_id",
        )
        # Somebody changed it first: nothing changes, no event.
        lost = await update_with(
            session,
            _NEW_PHONE,
            {"row_id": row_id, "was": "+8613800000012", "phone": "+8613800000014"},
            _events,
            an_event("lost"),
            link="subject_id",
        )
    assert (moved, lost) == (True, False)
    async with db.transaction(write=False) as session:
        assert await written(session) == (
            [("+8613800000013", None)],
            [(row_id, "new", ""), (row_id, "moved", "")],
        )


async def test_a_row_inserted_alone_commits_by_itself_and_keeps_a_clashing_one(
    db: Database,
) -> None:
    """The sandbox provider's books: written outside our transactions, one statement each
    (autocommit on PostgreSQL), a row already there kept as it was."""
    first = await db.insert_alone(_users, a_user("+8613800000021"))
    assert first is not None
    assert await db.insert_alone(_users, {**a_user("+8613800000021"), "public_id": "x"}) is None
    async with db.transaction() as session:
        with pytest.raises(NestedTransaction):
            await db.insert_alone(_users, a_user("+8613800000022"))
    async with db.transaction(write=False) as session:
        rows = (await session.execute(select(User.public_id, User.phone))).all()
    assert [tuple(row) for row in rows] == [("00000021", "+8613800000021")]


async def test_a_reading_session_refuses_every_write_and_changes_nothing(db: Database) -> None:
    """Database.reading has no transaction on PostgreSQL: a write there would be alone, not
    all or nothing, so none is let through."""
    with pytest.raises(ReadOnly):
        async with db.reading() as session:
            session.add(User(phone="+8613800000030", created_at=clock.now()))
    with pytest.raises(ReadOnly):
        async with db.reading() as session:
            await session.execute(update(User).values(phone="+8613800000031"))
    with pytest.raises(ReadOnly):
        async with db.reading() as session:
            await session.execute(
                insert(User).values(phone="+8613800000032", created_at=clock.now())
            )
    async with db.transaction() as session:
        with pytest.raises(NestedTransaction):
            async with db.reading():
                pass
    assert await count_users(db) == 0


async def test_a_reading_session_on_postgresql_runs_each_statement_alone(db: Database) -> None:
    """No BEGIN and COMMIT: each statement is a transaction of its own (a new transaction id
    each time), as at READ COMMITTED each would take its own snapshot anyway."""
    if db.is_sqlite:
        pytest.skip("SQLite reads in a transaction: no round trips to save")
    transaction_id = select(func.txid_current())
    async with db.reading() as session:
        first, second = [await session.scalar(transaction_id) for _ in range(2)]
    assert first != second
    async with db.transaction(write=False) as session:
        first, second = [await session.scalar(transaction_id) for _ in range(2)]
    assert first == second
