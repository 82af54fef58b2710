"""Writing a new order's rows: the order, its lines and its first event.

Order creation is the busiest write path, and each statement costs a round trip plus more
Python in SQLAlchemy than the database spends on it. So the statements are Core and built
once, and on PostgreSQL the three inserts are one statement (data-modifying CTEs), the lines
passed as one array per column. SQLite cannot put an INSERT in a CTE: there they are three.

ON CONFLICT DO NOTHING instead of a savepoint: a clash (a taken number, or the same
Idempotency-Key from a parallel request) just returns no row and writes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    Column,
    ColumnElement,
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import db
from pocketshop.db import table_of
from pocketshop.orders.models import Order, OrderEvent, OrderLine

_orders = table_of(Order)
_lines = table_of(OrderLine)
_events = table_of(OrderEvent)
# What the caller gives for each row: every column but the keys this module fills in.
_ORDER_COLUMNS = [column for column in _orders.c if column.name != "id"]
_LINE_COLUMNS = [column for column in _lines.c if column.name not in ("id", "order_id")]
_EVENT_COLUMNS = [column for column in _events.c if column.name not in ("id", "order_id")]


def _one_statement() -> Select[tuple[int]]:
    order = (
        postgresql.insert(_orders)
        .values(
            {column.name: bindparam(column.name, type_=column.type) for column in _ORDER_COLUMNS}
        )
        .on_conflict_do_nothing()
        .returning(_orders.c.id)
        .cte("new_order")
    )

    def rows_of_new_order(
        table: Table,
        columns: list[Column[Any]],
        value: Callable[[Column[Any]], ColumnElement[Any]],
        name: str,
    ) -> CTE:
        return (
            insert(table)
            .from_select(
                ["order_id", *(column.name for column in columns)],
                select(order.c.id, *(value(column) for column in columns)),
            )
            .cte(name)
        )

    # unnest() of equally long arrays in one SELECT list zips them: one row per line.
    lines = rows_of_new_order(
        _lines,
        _LINE_COLUMNS,
        lambda column: func.unnest(bindparam(f"lines_{column.name}", type_=ARRAY(column.type))),
        "new_lines",
    )
    event = rows_of_new_order(
        _events,
        _EVENT_COLUMNS,
        lambda column: bindparam(f"event_{column.name}", type_=column.type),
        "new_event",
    )
    return select(order.c.id).add_cte(lines, event)


_PLACE_ON_POSTGRESQL = _one_statement()
_INSERT_LINES = insert(_lines)
_INSERT_EVENT = insert(_events)


@dataclass(frozen=True)
class Stored:
    order: Order  # persistent in the session, as if loaded
    # As written, for the answer (not in the session).
    lines: list[OrderLine]
    event: OrderEvent


async def store(
    session: AsyncSession,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    event: dict[str, Any],
) -> Stored | None:
    """Insert the rows, or nothing on a clash (None). `order` has every column but the id
    and those `db.new_row` fills in."""
    order = db.new_row(_orders, order)
    order_id = await _insert(session, order, lines, event)
    if order_id is None:
        return None
    return Stored(
        order=db.attach(session, Order, {"id": order_id, **order}),
        lines=[db.row_of(OrderLine, {"order_id": order_id, **line}) for line in lines],
        event=db.row_of(OrderEvent, {"order_id": order_id, **event}),
    )


async def _insert(
    session: AsyncSession,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    event: dict[str, Any],
) -> int | None:
    if session.get_bind().dialect.name == "postgresql":
        params = {
            **order,
            **{
                f"lines_{column.name}": [line[column.name] for line in lines]
                for column in _LINE_COLUMNS
            },
            **{f"event_{column.name}": event[column.name] for column in _EVENT_COLUMNS},
        }
        order_id: int | None = await session.scalar(_PLACE_ON_POSTGRESQL, params)
        return order_id
    order_id = await session.scalar(db.insert_new(session, _orders), order)
    if order_id is not None:
        await session.execute(_INSERT_LINES, [{**line, "order_id": order_id} for line in lines])
        await session.execute(_INSERT_EVENT, {**event, "order_id": order_id})
    return order_id
