"""What must hold of the money after any run, whatever raced: the ledger's own invariants,
and each order's money adding up (what its payment brought in is in escrow, released, or
refunded), each payment captured once or returned, nothing left in the escrow of a finished
order unless an after-sales case is open on it. The race tests and the property test check
these after every run."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.db import Database
from pocketshop.ledger import service as ledger
from pocketshop.ledger.models import LedgerTransaction
from pocketshop.orders.models import Order
from pocketshop.payments.balances import Source, escrow_of, returning_of
from pocketshop.payments.models import Payment, PaymentAnomaly, Refund, Settlement

FINISHED = ("completed", "closed")


async def problems(db: Database) -> list[str]:
    async with db.transaction(write=False) as session:
        found = await ledger.check(session)
        for order_id in await session.scalars(select(Order.id)):
            found += await order_problems(session, order_id)
        for payment in await session.scalars(select(Payment)):
            found += await payment_problems(session, payment)
    return found


async def order_problems(session: AsyncSession, order_id: int) -> list[str]:
    order = await session.get_one(Order, order_id)
    paying = list(
        await session.scalars(
            select(Payment).where(
                Payment.order_id == order_id,
                Payment.stray.is_(False),
                Payment.status.in_(["paid", "refunded"]),
            )
        )
    )
    if len(paying) > 1:
        return [f"order {order.number} paid by {len(paying)} payments"]
    escrow = (await ledger.balance(session, escrow_of(order.id, order.shop_id))).amount
    if not paying:
        return [f"order {order.number} holds {escrow} in escrow, unpaid"] if escrow else []
    payment = paying[0]
    refunds = list(
        await session.scalars(
            select(Refund).where(Refund.payment_id == payment.id, Refund.status != "failed")
        )
    )
    from_escrow = sum(r.amount for r in refunds if r.source == Source.escrow)
    after_release = sum(r.amount for r in refunds if r.source != Source.escrow)
    settlement = await session.scalar(select(Settlement).where(Settlement.order_id == order_id))
    released = settlement.gross if settlement else 0
    found = []
    if payment.amount != escrow + released + from_escrow:
        found.append(
            f"order {order.number}: paid {payment.amount} != escrow {escrow} + released "
            f"{released} + refunded from escrow {from_escrow}"
        )
    if settlement is not None and settlement.refunded != after_release:
        found.append(f"order {order.number}: settlement says {settlement.refunded} refunded")
    if from_escrow + after_release > payment.amount:
        found.append(f"order {order.number}: refunds exceed what was paid")
    # A finished order keeps escrow only while an after-sales case is open on it (the case's
    # end releases it), or when a refund of it failed and the operator was told.
    if (
        order.status in FINISHED
        and escrow
        and not order.aftersales_open
        and not await _told(session, payment.id)
    ):
        found.append(f"order {order.number} is {order.status} with {escrow} left in escrow")
    return found


async def payment_problems(session: AsyncSession, payment: Payment) -> list[str]:
    """A payment the provider took is captured once: into its order's escrow, or, stray,
    into its own account and returned (or told to the operator when the return failed)."""
    captures = await session.scalar(
        select(func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.reference == f"capture:{payment.id}")
    )
    taken = payment.status in ("paid", "refunded")
    if captures != (1 if taken else 0):
        return [f"payment {payment.id} ({payment.status}) captured {captures} times"]
    if not payment.stray:
        return []
    returns = list(
        await session.scalars(
            select(Refund).where(Refund.payment_id == payment.id, Refund.status != "failed")
        )
    )
    held = (await ledger.balance(session, returning_of(payment.id))).amount
    if sum(r.amount for r in returns) + held != payment.amount:
        return [f"stray payment {payment.id}: returns and what it holds do not add up"]
    if held and not await _told(session, payment.id):
        return [f"stray payment {payment.id} holds {held}, and nobody was told"]
    return []


async def _told(session: AsyncSession, payment_id: int) -> bool:
    """A refund of this payment failed and the operator has it as an anomaly."""
    return bool(
        await session.scalar(
            select(func.count())
            .select_from(PaymentAnomaly)
            .where(PaymentAnomaly.payment_id == payment_id, PaymentAnomaly.kind == "refund_failed")
        )
    )
