"""A state machine's move: a conditional UPDATE of the row's status (whoever loses a race
changes nothing) and its event row, for orders, payments, refunds and withdrawals alike; and
a new row with its first event.

Moves run on every order and payment, so their statements are built once per shape: building
one costs more than running it.
"""

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Insert, Table, Update, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.db import insert_new


async def create(
    session: AsyncSession,
    table: Table,
    row: Mapping[str, Any],
    *,
    events: Table,
    subject_column: str,
    event: Mapping[str, Any],
) -> int | None:
    """Insert `row` (every column but the id) and its first `event` (as in `move`); the new
    row's id, or None, and nothing written, when the row clashed with a unique constraint."""
    row_id: int | None = await session.scalar(insert_new(session, table), row)
    if row_id is not None:
        await record(session, events, subject_column, row_id, event)
    return row_id


async def move(
    session: AsyncSession,
    table: Table,
    row_id: int,
    from_status: str,
    changes: Mapping[str, Any],
    *,
    events: Table,
    subject_column: str,
    event: Mapping[str, Any],
) -> bool:
    """Set `changes` (the new status among them) on the row if it is still in `from_status`,
    and record `event` (every column of `events` but its id and `subject_column`, which
    takes the row's id). False, and nothing written, when somebody moved it first."""
    result = await session.execute(
        _move(table, tuple(changes)),
        {
            "row_id": row_id,
            "from_status": from_status,
            **{f"set_{name}": value for name, value in changes.items()},
        },
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await record(session, events, subject_column, row_id, event)
    return True


async def record(
    session: AsyncSession,
    events: Table,
    subject_column: str,
    row_id: int,
    event: Mapping[str, Any],
) -> None:
    """An event row alone."""
    await session.execute(_insert(events), {subject_column: row_id, **event})


@functools.cache
def _move(table: Table, columns: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.status == bindparam("from_status"))
        .values({name: bindparam(f"set_{name}") for name in columns})
    )


@functools.cache
def _insert(events: Table) -> Insert:
    return insert(events)
