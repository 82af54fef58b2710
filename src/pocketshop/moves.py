"""A state machine's move: a conditional UPDATE of the row's status (whoever loses a race
changes nothing) and its event row, for orders, payments, refunds and withdrawals alike; and
a new row with its first event.

Moves run on every order and payment, so their statements are built once per shape: building
one costs more than running it. On PostgreSQL the move and its event are one statement (the
event made from the UPDATE's RETURNING, so only a move that happened is recorded), and so are
a new row and its first event; SQLite cannot put an UPDATE or INSERT in a CTE, so there they
are two.
"""

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    CTE,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
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
    if session.get_bind().dialect.name == "postgresql":
        statement = _create_and_record(table, tuple(row), events, subject_column, tuple(event))
        created: int | None = await session.scalar(statement, {**row, **_event_parameters(event)})
        return created
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
    parameters = {
        "row_id": row_id,
        "from_status": from_status,
        **{f"set_{name}": value for name, value in changes.items()},
    }
    if session.get_bind().dialect.name == "postgresql":
        statement = _move_and_record(table, tuple(changes), events, subject_column, tuple(event))
        moved = await session.scalar(statement, {**parameters, **_event_parameters(event)})
        return moved == 1
    result = await session.execute(_move(table, tuple(changes)), parameters)
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
    """An event row alone: a new row's first, which no move made."""
    await session.execute(_insert(events), {subject_column: row_id, **event})


def _event_parameters(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's values as the one-statement forms name them (see `_recorded`)."""
    return {f"event_{name}": value for name, value in event.items()}


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


def _recorded(
    source: CTE, events: Table, subject_column: str, event_columns: tuple[str, ...]
) -> CTE:
    """The INSERT of an event row for each id `source` returns, as a CTE."""
    return (
        insert(events)
        .from_select(
            [subject_column, *event_columns],
            select(
                source.c.id,
                *(bindparam(f"event_{name}", type_=events.c[name].type) for name in event_columns),
            ),
        )
        .cte("recorded")
    )


@functools.cache
def _create_and_record(
    table: Table,
    columns: tuple[str, ...],
    events: Table,
    subject_column: str,
    event_columns: tuple[str, ...],
) -> Select[tuple[int]]:
    created = (
        postgresql.insert(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing()
        .returning(table.c.id)
        .cte("created")
    )
    recorded = _recorded(created, events, subject_column, event_columns)
    return select(created.c.id).add_cte(recorded)


@functools.cache
def _move_and_record(
    table: Table,
    columns: tuple[str, ...],
    events: Table,
    subject_column: str,
    event_columns: tuple[str, ...],
) -> Select[int]:
    moved = _move(table, columns).returning(table.c.id).cte("moved")
    recorded = _recorded(moved, events, subject_column, event_columns)
    return select(func.count()).select_from(moved).add_cte(recorded)
