"""Writing a new order's rows: the order, its lines and its first event.

Order creation is the busiest write path, and each statement costs a round trip plus more
Python in SQLAlchemy than the database spends running it: so the rows are written by Core,
through `db.insert_new_with` (one statement on PostgreSQL).

ON CONFLICT DO NOTHING instead of a savepoint: a clash (a taken number, or the same
Idempotency-Key from a parallel request) just returns no id and writes nothing.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import db
from pocketshop.db import table_of
from pocketshop.orders.models import Order, OrderEvent, OrderLine

_orders = table_of(Order)
_lines = table_of(OrderLine)
_events = table_of(OrderEvent)


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
    order_id = await db.insert_new_with(
        session, _orders, order, [(_lines, lines), (_events, [event])], link="order_id"
    )
    if order_id is None:
        return None
    return Stored(
        order=db.attach(session, Order, {"id": order_id, **order}),
        lines=[db.row_of(OrderLine, {"order_id": order_id, **line}) for line in lines],
        event=db.row_of(OrderEvent, {"order_id": order_id, **event}),
    )
