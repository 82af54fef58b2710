"""What buyers, merchants and jobs do to an order, its money included, each step in sight:
the order is locked first, moved along its state machine (orders.service), and its money
moves through the one money path (payments.escrow) in the same transaction. A refusal
anywhere raises, and the whole transaction rolls back."""

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.orders.service import Actor, CloseReason, OrderStatus
from pocketshop.payments import escrow
from pocketshop.payments import service as payments
from pocketshop.shops.models import Shop


async def confirm_receipt(
    session: AsyncSession, settings: Settings, buyer: User, number: str
) -> Order:
    """The buyer has the goods: the order completes and its escrow is released to the shop."""
    order = await orders.lock_for_buyer_or_404(session, buyer, number)
    await orders.complete(
        session, order, actor=Actor.buyer, user_id=buyer.id, reason="buyer_confirmed"
    )
    await _release(session, settings, order)
    return order


async def auto_confirm(session: AsyncSession, settings: Settings, order_id: int) -> bool:
    """Receipt confirmed for a buyer who said nothing (a job step); False when it was not due
    (confirmed, or refunded, meanwhile)."""
    order = await orders.lock(session, order_id)
    if not orders.receipt_due(order):
        return False
    await orders.complete(session, order, actor=Actor.system, reason="auto_confirmed")
    await _release(session, settings, order)
    return True


async def _release(session: AsyncSession, settings: Settings, order: Order) -> None:
    """Received: the escrow goes to the shop, unless an after-sales case is open (its end
    releases it: aftersales.service)."""
    if not order.aftersales_open:
        await escrow.release(session, settings, order.id)


async def cancel_by_buyer(
    session: AsyncSession, settings: Settings, buyer: User, number: str
) -> Order:
    order = await orders.lock_for_buyer_or_404(session, buyer, number)
    return await _close(
        session, settings, order, actor=Actor.buyer, reason=CloseReason.buyer_cancelled, user=buyer
    )


async def cancel_by_merchant(
    session: AsyncSession, settings: Settings, shop: Shop, number: str, *, user_id: int
) -> Order:
    order = await orders.lock_for_shop_or_404(session, shop, number)
    return await _close(
        session,
        settings,
        order,
        actor=Actor.merchant,
        reason=CloseReason.merchant_cancelled,
        user_id=user_id,
    )


async def close_unpaid(
    session: AsyncSession,
    settings: Settings,
    order_id: int,
    *,
    reason: CloseReason = CloseReason.unpaid_timeout,
) -> bool:
    """Close an order still waiting for payment (a job step: its time ran out, or the
    payment request it came from was paid or cancelled); False when it was paid or closed
    meanwhile, or is not due."""
    order = await orders.lock(session, order_id)
    if order.status != OrderStatus.pending_payment:
        return False
    if reason is CloseReason.unpaid_timeout and not orders.unpaid_due(order):
        return False
    await _close(session, settings, order, actor=Actor.system, reason=reason)
    return True


async def _close(
    session: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    actor: Actor,
    reason: CloseReason,
    user: User | None = None,
    user_id: int | None = None,
) -> Order:
    """Close the order: a paid one is refunded whole; an unpaid one's open payments are
    closed at their providers (after commit)."""
    was_paid = order.status != OrderStatus.pending_payment
    orders.refuse_while_aftersales(order)
    await orders.close(
        session, order, actor=actor, reason=reason, user_id=user.id if user else user_id
    )
    if was_paid:
        await escrow.refund_rest(
            session, settings, order.id, requested_by=actor.value, reason=reason.value
        )
    else:
        await payments.close_open(session, order)
    return order
