"""A state machine's move: a conditional UPDATE of the row's status (whoever loses a race
changes nothing) and its event row, for orders, payments, refunds and withdrawals alike; and
a new row with its first event.

Moves run on every order and payment, so their statements are built once per shape: building
one costs more than running it; and each is one round trip on PostgreSQL (`db.update_with`,
`db.insert_new_with`).
"""

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import db


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
    return await db.insert_new_with(session, table, row, [(events, [event])], link=subject_column)


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
    return await db.update_with(
        session,
        _move(table, tuple(changes)),
        {
            "row_id": row_id,
            "from_status": from_status,
            **{f"set_{name}": value for name, value in changes.items()},
        },
        events,
        event,
        link=subject_column,
    )


@functools.cache
def _move(table: Table, columns: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.status == bindparam("from_status"))
        .values({name: bindparam(f"set_{name}") for name in columns})
    )
