"""Writing a new order's rows: the order, its lines and its first event.

Order creation is the busiest write path, and building a statement costs more Python in
SQLAlchemy than the database spends running it: so the statements are Core and built once.
They are the same on both databases: the order (returning its id), then the lines in one
executemany and the event.

ON CONFLICT DO NOTHING instead of a savepoint (`db.insert_new`): a clash (a taken number, or
the same Idempotency-Key from a parallel request) just returns no id and writes nothing.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import db
from pocketshop.db import table_of
from pocketshop.orders.models import Order, OrderEvent, OrderLine

_orders = table_of(Order)
_INSERT_LINES = insert(table_of(OrderLine))
_INSERT_EVENT = insert(table_of(OrderEvent))


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
    and those `db.new_row` fills in; `lines` and `event` every column but the ids."""
    order = db.new_row(_orders, order)
    order_id = await session.scalar(db.insert_new(session, _orders), order)
    if order_id is None:
        return None
    await session.execute(_INSERT_LINES, [{**line, "order_id": order_id} for line in lines])
    await session.execute(_INSERT_EVENT, {**event, "order_id": order_id})
    return Stored(
        order=db.attach(session, Order, {"id": order_id, **order}),
        lines=[db.row_of(OrderLine, {"order_id": order_id, **line}) for line in lines],
        event=db.row_of(OrderEvent, {"order_id": order_id, **event}),
    )
