"""How an after-sales case ends in money, through the one money path: a refund of its amount
(units not shipped yet never ship), the order closed when every line went back, and the
order's escrow released once no case is open on it. Called by service.py, under the order's
lock."""

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.aftersales import queries, states
from pocketshop.aftersales.models import AftersalesCase
from pocketshop.aftersales.states import Actor, Kind, Status
from pocketshop.config import Settings
from pocketshop.money import Money
from pocketshop.orders import service as orders
from pocketshop.orders import shipping
from pocketshop.orders.models import Order, OrderLine
from pocketshop.orders.service import OrderStatus
from pocketshop.payments import escrow


async def refund(
    session: AsyncSession,
    settings: Settings,
    case: AftersalesCase,
    order: Order,
    actor: Actor,
    user_id: int | None,
    note: str = "",
) -> AftersalesCase:
    """The case's amount goes back through the money path, asked as of the case's opening
    (the window counts from then), and the case ends refunded."""
    await states.move(
        session,
        case,
        Status.refunded,
        actor=actor,
        user_id=user_id,
        note=note or Money(case.amount, case.currency).format(),
        values={"amount": case.amount},
    )
    if case.kind == Kind.refund_only:  # what was not shipped of it never will be
        line = await session.get_one(OrderLine, case.order_line_id)
        await shipping.cancel_unshipped(session, settings, order, line, case.quantity)
    made = await escrow.refund(
        session,
        settings,
        order.id,
        amount=case.amount,
        requested_by=actor.value,
        reason=f"aftersales:{case.public_id}",
        asked_at=case.created_at,
    )
    case.refund_id = made.id
    if order.status != OrderStatus.closed and await _all_returned(session, order):
        await orders.close_refunded(session, order)
    await ended(session, settings, order)
    return case


async def _all_returned(session: AsyncSession, order: Order) -> bool:
    refunded = await queries.refunded_quantities(session, order.id)
    return all(
        refunded.get(line.id, 0) >= line.quantity for line in await orders.lines_of(session, order)
    )


async def ended(session: AsyncSession, settings: Settings, order: Order) -> None:
    """A case ended: with none left open, an order received or closed meanwhile gets what is
    left in its escrow released to the shop."""
    still_open = await queries.open_on_order(session, order.id)
    order.aftersales_open = bool(still_open)
    if not still_open and order.status in (OrderStatus.completed, OrderStatus.closed):
        await escrow.release(session, settings, order.id)
