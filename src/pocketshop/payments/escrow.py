"""The one money path: an order's money moves only through these steps, which orders, refunds,
notices and jobs call explicitly.

- `capture`: the money a provider took for a payment goes into its order's escrow; a payment
  its order no longer waits for (late, twice, of no order we know) goes into its own account
  and straight back to the buyer (`_return`), never out of a shop's money.
- `release`: at receipt, what is in escrow goes to the shop's pending money, less the fee.
- `settle`: the day after (T+1), pending money becomes available, paying the shop's debt first.
- `refund`: from wherever the order's money is now, for the whole after-sales window: escrow
  before release, the shop's pending money before settlement, its available money after (what
  that lacks becomes the shop's debt). The provider is told after commit.
- `refund_sent` / `refund_refused`: the provider's final word on a refund. Refused money
  goes back where the order's money is now (released again if the order was).

The shop's customer row (customers) follows: a paid order counts for its buyer, a refund
comes off what they spent, in the same step.

Each step takes the order's lock first (`orders.lock`: a row lock, once per transaction) and
computes every amount inside it; a shop's available money and debt change under the shop's
lock too, taken after the order's. A refusal raises, and the caller's whole transaction (a
request, a job step) rolls back: nothing here catches a domain error.
"""

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, outbox
from pocketshop.config import Settings
from pocketshop.customers import service as customers
from pocketshop.errors import Conflict, InvalidInput
from pocketshop.i18n import _
from pocketshop.jobs import due_ids
from pocketshop.ledger import service as ledger
from pocketshop.money import Money
from pocketshop.notifications import service as notifications
from pocketshop.notifications.events import Event
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderSource, OrderStatus
from pocketshop.payments import anomalies, states
from pocketshop.payments.balances import (
    Legs,
    Source,
    escrow_of,
    fee_back,
    fee_of,
    from_shop,
    lock_shop,
    pending_of,
    refunding_of,
    returning_of,
    settle_at,
    to_shop,
)
from pocketshop.payments.models import Payment, Refund, Settlement, new_public_id
from pocketshop.payments.states import PaymentStatus, RefundStatus
from pocketshop.shops import service as shops

SUBMIT_TOPIC = "payments.refund"
REASON_MAX = 200
# Orders a whole refund closes (their stock not yet shipped goes back on sale).
CLOSES = (OrderStatus.paid, OrderStatus.partially_shipped, OrderStatus.shipped)
# Give the outbox, which sends a new refund at once, a head start on the sweep.
FIRST_CHECK = timedelta(minutes=1)
PENDING = "pending"
SETTLED = "settled"


class Captured(StrEnum):
    paid = "paid"  # into its order's escrow: the order is paid
    returned = "returned"  # its order did not wait for it: on its way back
    before = ""  # captured before: nothing done


# --- capture ------------------------------------------------------------------------------------


async def capture(session: AsyncSession, payment: Payment, transaction_id: str) -> Captured:
    """The provider took the money for `payment`. Into its order's escrow, the order paid, if
    the order waits for it; otherwise returned from its own money."""
    order = await orders.lock(session, payment.order_id) if payment.order_id else None
    stray = order is None or order.status != OrderStatus.pending_payment
    if not await _paid(session, payment, transaction_id, stray):
        await session.refresh(payment)  # moved before we held its order: read as it is now
        if payment.status in (PaymentStatus.paid, PaymentStatus.refunded):
            return Captured.before
        if not await _paid(session, payment, transaction_id, stray):
            raise RuntimeError(f"payment {payment.id} moved while its order was held")
    amount = Money(payment.amount, payment.currency)
    if order is None or stray:
        await _return(session, payment, order, amount)
        return Captured.returned
    await orders.mark_paid(session, order, reason=f"{payment.provider}:{transaction_id}")
    await customers.record_paid(session, order)
    notifications.notify(
        session,
        Event.payment_request_paid
        if order.source == OrderSource.payment_request
        else Event.order_paid,
        order.number,
        {"number": order.number, "amount": order.total, "currency": order.currency},
        shop_id=order.shop_id,
    )
    await ledger.post(
        session,
        kind="capture",
        reference=f"capture:{payment.id}",
        legs=[
            (ledger.clearing(payment.provider), -amount),
            (escrow_of(order.id, order.shop_id), amount),
        ],
        shop_id=order.shop_id,
        order_id=order.id,
    )
    return Captured.paid


async def _paid(session: AsyncSession, payment: Payment, transaction_id: str, stray: bool) -> bool:
    if payment.status in (PaymentStatus.paid, PaymentStatus.refunded):
        return False
    return await states.move(
        session,
        payment,
        PaymentStatus.paid,
        actor="provider",
        values={
            "provider_txn_id": transaction_id,
            "paid_at": clock.now(),
            "query_after": None,
            "stray": stray,
        },
    )


async def _return(
    session: AsyncSession, payment: Payment, order: Order | None, amount: Money
) -> None:
    """A payment its order does not wait for (closed, paid by another payment) or of no order
    we know: into its own account, and back to the buyer out of it."""
    if order is None:
        why = "unknown_payment"
    else:
        why = "late_payment" if order.status == OrderStatus.closed else "paid_twice"
    own = returning_of(payment.id)
    await ledger.post(
        session,
        kind="capture",
        reference=f"capture:{payment.id}",
        legs=[(ledger.clearing(payment.provider), -amount), (own, amount)],
        order_id=payment.order_id,
    )
    refund = await _new_refund(
        session, payment, amount=amount.amount, source=Source.returning, by="system", reason=why
    )
    if refund is None:
        raise RuntimeError(f"the return of payment {payment.id} clashed")
    await _book(session, refund, [(own, -amount)])
    await anomalies.record(
        session,
        provider=payment.provider,
        kind=why,
        payment_id=payment.id,
        shop_id=payment.shop_id,
        details={"amount": payment.amount, "refund": refund.public_id},
    )


# --- release and settlement -----------------------------------------------------------------


async def release(session: AsyncSession, settings: Settings, order_id: int) -> Settlement | None:
    """Receipt confirmed: what is in the order's escrow goes to its shop, pending, less the
    platform fee. Called again after release (money a refused refund brought back), it
    releases that too, to pending money if not settled yet, else straight to the shop."""
    order = await orders.lock(session, order_id)
    held = await ledger.balance(session, escrow_of(order.id, order.shop_id), order.currency)
    settlement = await settlement_of(session, order.id)
    if held.amount <= 0:
        return settlement
    now = clock.now()
    if settlement is None:
        shop = await shops.get(session, order.shop_id)
        settlement = Settlement(
            order_id=order.id,
            shop_id=order.shop_id,
            currency=held.currency,
            gross=0,
            fee=0,
            refunded=0,
            fee_returned=0,
            debt_paid=0,
            status=PENDING,
            released_at=now,
            settle_at=settle_at(now, shop.timezone, settings.settlement_days),
        )
        session.add(settlement)
        await session.flush()
    fee = Money(fee_of(settlement.gross + held.amount, settings.platform_fee_bps), held.currency)
    fee -= Money(settlement.fee, held.currency)
    settlement.gross += held.amount
    settlement.fee += fee.amount
    legs: Legs = [(escrow_of(order.id, order.shop_id), -held)]
    if fee.amount:
        legs.append((ledger.fees(), fee))
    if settlement.status == PENDING:
        legs.append((pending_of(order.shop_id), held - fee))
    else:
        await lock_shop(session, order.shop_id)
        to_it, paying = await to_shop(session, order.shop_id, held - fee)
        legs += to_it
        settlement.debt_paid += paying
    await ledger.post(
        session,
        kind="release",
        # Each release of the order moves its gross to a new total: a reference of its own.
        reference=f"release:{order.id}:{settlement.gross}",
        legs=legs,
        shop_id=order.shop_id,
        order_id=order.id,
    )
    return settlement


async def settle(session: AsyncSession, settlement_id: int) -> bool:
    """A due release becomes available to its shop, paying the shop's debt first (a job
    step; once, whoever runs it)."""
    found = await session.get(Settlement, settlement_id)
    if found is None:
        return False
    await orders.lock(session, found.order_id)
    settlement = await session.get_one(Settlement, settlement_id, populate_existing=True)
    now = clock.now()
    if settlement.status != PENDING or settlement.settle_at > now:
        return False
    settlement.status = SETTLED
    settlement.settled_at = now
    net = Money(
        settlement.gross - settlement.fee - (settlement.refunded - settlement.fee_returned),
        settlement.currency,
    )
    if net.amount > 0:
        await lock_shop(session, settlement.shop_id)
        to_it, paying = await to_shop(session, settlement.shop_id, net)
        settlement.debt_paid += paying
        await ledger.post(
            session,
            kind="settle",
            reference=f"settle:{settlement.order_id}",
            legs=[(pending_of(settlement.shop_id), -net), *to_it],
            shop_id=settlement.shop_id,
            order_id=settlement.order_id,
        )
        order = await orders.get(session, settlement.order_id)
        notifications.notify(
            session,
            Event.settled,
            str(settlement.id),
            {"number": order.number, "amount": net.amount, "currency": net.currency},
            shop_id=settlement.shop_id,
        )
    return True


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await due_ids(
        session,
        Settlement.id,
        Settlement.status == PENDING,
        Settlement.settle_at <= now,
        order_by=Settlement.settle_at,
        limit=limit,
    )


async def settlement_of(session: AsyncSession, order_id: int) -> Settlement | None:
    return await session.scalar(select(Settlement).where(Settlement.order_id == order_id))


# --- refunds --------------------------------------------------------------------------------


async def refund(
    session: AsyncSession,
    settings: Settings,
    order_id: int,
    *,
    amount: int,
    requested_by: str,
    reason: str = "",
    idempotency_key: str | None = None,
    closes_order: bool = True,
    asked_at: datetime | None = None,
) -> Refund:
    """Book a refund of the order's payment from wherever its money is now, and queue it for
    the provider. A whole refund of an order not yet received closes it (unless
    `closes_order` is False: it was closed already). `asked_at`: when the buyer asked (an
    after-sales case), the time the window is checked at. Refused: not a positive whole
    amount (422); above what is left, nothing paid, or past the after-sales window (409)."""
    order = await orders.lock(session, order_id)
    if idempotency_key is not None:
        existing = await _with_key(session, order, idempotency_key, amount)
        if existing is not None:
            return existing
    if type(amount) is not int or amount <= 0:
        raise InvalidInput(
            _("A refund must be a positive amount."), code="invalid_amount", field="amount"
        )
    payment = await paying_payment(session, order.id)
    if payment is None:
        raise not_paid()
    _check_window(settings, order, asked_at)
    left = payment.amount - await refunded_so_far(session, payment.id)
    source, room = await _where(session, order)
    if amount > min(left, room):
        # What is left depends on the order's state (earlier refunds): a conflict, not a
        # malformed amount.
        raise Conflict(
            _(
                "At most %(left)s can be refunded.",
                left=Money(max(min(left, room), 0), payment.currency).format(),
            ),
            code="refund_too_large",
            field="amount",
        )
    made = await _new_refund(
        session,
        payment,
        amount=amount,
        source=source,
        by=requested_by,
        reason=reason,
        idempotency_key=idempotency_key,
    )
    if made is None:  # the same key, in a parallel request that committed first
        existing = None
        if idempotency_key is not None:
            existing = await _with_key(session, order, idempotency_key, amount)
        if existing is None:
            raise Conflict(_("Please try again."), code="try_again")
        return existing
    await _book(session, made, await _taken(session, order, made))
    await customers.record_refund(session, order, amount)
    if closes_order and amount == left and order.status in CLOSES:
        await orders.close_refunded(session, order)
    return made


async def refund_rest(
    session: AsyncSession, settings: Settings, order_id: int, *, requested_by: str, reason: str
) -> Refund | None:
    """A paid order closed: what is left of its payment goes back, all of it."""
    order = await orders.lock(session, order_id)
    payment = await paying_payment(session, order.id)
    if payment is None:
        return None
    left = payment.amount - await refunded_so_far(session, payment.id)
    if left <= 0:
        return None
    return await refund(
        session,
        settings,
        order.id,
        amount=left,
        requested_by=requested_by,
        reason=reason,
        closes_order=False,
    )


def _check_window(settings: Settings, order: Order, asked_at: datetime | None = None) -> None:
    """Refunds after receipt for the after-sales window (7-day no-reason returns)."""
    if order.completed_at is None:
        return
    closes = order.completed_at + timedelta(days=settings.aftersales_days)
    if (asked_at or clock.now()) > closes:
        raise Conflict(
            _("The after-sales window of this order has closed."), code="aftersales_closed"
        )


async def _where(session: AsyncSession, order: Order) -> tuple[Source, int]:
    """Where the order's money is now, and how much of it a refund may take there."""
    settlement = await settlement_of(session, order.id)
    if settlement is None:
        held = await ledger.balance(session, escrow_of(order.id, order.shop_id), order.currency)
        return Source.escrow, held.amount
    room = settlement.gross - settlement.refunded
    return (Source.pending if settlement.status == PENDING else Source.available), room


async def _taken(session: AsyncSession, order: Order, made: Refund) -> Legs:
    """The legs that take a new refund's money from where it is (see `_where`)."""
    money = Money(made.amount, made.currency)
    if made.source == Source.escrow:
        return [(escrow_of(order.id, order.shop_id), -money)]
    settlement = await settlement_of(session, order.id)
    if settlement is None:
        raise RuntimeError(f"a refund after release of order {order.id} without its release")
    returned = Money(
        fee_back(
            settlement.fee,
            settlement.gross,
            settlement.refunded,
            settlement.fee_returned,
            made.amount,
        ),
        money.currency,
    )
    settlement.refunded += made.amount
    settlement.fee_returned += returned.amount
    made.fee_returned = returned.amount
    legs: Legs = [(ledger.fees(), -returned)] if returned.amount else []
    if made.source == Source.pending:
        return [*legs, (pending_of(order.shop_id), -(money - returned))]
    await lock_shop(session, order.shop_id)
    from_it, debt = await from_shop(session, order.shop_id, money - returned)
    made.debt = debt
    return [*legs, *from_it]


async def _new_refund(
    session: AsyncSession,
    payment: Payment,
    *,
    amount: int,
    source: Source,
    by: str,
    reason: str,
    idempotency_key: str | None = None,
) -> Refund | None:
    """The refund's row and first event; None when its Idempotency-Key clashed."""
    return await states.create(
        session,
        Refund,
        {
            "public_id": new_public_id(),
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "shop_id": payment.shop_id,
            "amount": amount,
            "currency": payment.currency,
            "status": RefundStatus.requested.value,
            "reason": " ".join(reason.split())[:REASON_MAX],
            "requested_by": by,
            "out_refund_no": uuid.uuid4().hex,
            "idempotency_key": idempotency_key,
            "source": source.value,
            "created_at": clock.now(),
            "query_after": clock.now() + FIRST_CHECK,
        },
        actor=by,
    )


async def _book(session: AsyncSession, made: Refund, taken: Legs) -> None:
    """The refund's money, taken by `taken`, on its way back; the provider told after commit."""
    money = Money(made.amount, made.currency)
    await ledger.post(
        session,
        kind="refund",
        reference=f"refund:{made.id}",
        legs=[*taken, (refunding_of(made), money)],
        shop_id=made.shop_id,
        order_id=made.order_id,
    )
    outbox.enqueue(session, SUBMIT_TOPIC, {"refund_id": made.id})


async def _with_key(session: AsyncSession, order: Order, key: str, amount: int) -> Refund | None:
    """The refund the shop asked for earlier with this Idempotency-Key, if the same one."""
    existing = await session.scalar(
        select(Refund).where(Refund.shop_id == order.shop_id, Refund.idempotency_key == key)
    )
    if existing is not None and (existing.order_id != order.id or existing.amount != amount):
        raise InvalidInput(
            _("This Idempotency-Key was used for a different refund."),
            code="idempotency_key_reused",
        )
    return existing


async def refund_sent(session: AsyncSession, made: Refund, provider_refund_id: str) -> bool:
    """The provider paid the buyer back: the money leaves our books, and the buyer is told.
    False when the refund was finished before."""
    order = await orders.lock(session, made.order_id) if made.order_id is not None else None
    moved = await states.move(
        session,
        made,
        RefundStatus.succeeded,
        actor="provider",
        values={
            "finished_at": clock.now(),
            "provider_refund_id": provider_refund_id or made.provider_refund_id,
            "query_after": None,
        },
    )
    if not moved:
        return False
    payment = await session.get_one(Payment, made.payment_id)
    money = Money(made.amount, made.currency)
    await ledger.post(
        session,
        kind="refund_sent",
        reference=f"refund_sent:{made.id}",
        legs=[
            (refunding_of(made), -money),
            (ledger.clearing(payment.provider), money),
        ],
        shop_id=made.shop_id,
        order_id=made.order_id,
    )
    if await refunded_so_far(session, payment.id, succeeded=True) >= payment.amount:
        await states.move(session, payment, PaymentStatus.refunded, actor="system")
    if order is not None:
        notifications.notify(
            session,
            Event.refund_sent,
            made.public_id,
            {"number": order.number, "amount": made.amount, "currency": made.currency},
            user_id=order.buyer_id,
        )
    return True


async def refund_refused(
    session: AsyncSession, settings: Settings, made: Refund, failure: str
) -> bool:
    """The provider refused the refund for good: its money goes back where the order's money
    is now, and the operator is told. False when the refund was finished before."""
    order = await orders.lock(session, made.order_id) if made.order_id else None
    moved = await states.move(
        session,
        made,
        RefundStatus.failed,
        actor="provider",
        reason=failure[:200],
        values={"finished_at": clock.now(), "failure": failure[:200], "query_after": None},
    )
    if not moved:
        return False
    money = Money(made.amount, made.currency)
    legs: Legs = [(refunding_of(made), -money)]
    if made.source == Source.returning or order is None:
        legs.append((returning_of(made.payment_id), money))
    elif made.source == Source.escrow:
        legs.append((escrow_of(order.id, order.shop_id), money))
    else:
        legs += await _back_to_shop(session, order, made, money)
    if order is not None and made.source != Source.returning:
        await customers.record_refund(session, order, -made.amount)  # not refunded after all
    await ledger.post(
        session,
        kind="refund_failed",
        reference=f"refund_failed:{made.id}",
        legs=legs,
        shop_id=made.shop_id,
        order_id=made.order_id,
    )
    if (
        order is not None
        and made.source == Source.escrow
        and await settlement_of(session, order.id) is not None
    ):
        await release(session, settings, order.id)  # released meanwhile: this money too
    payment = await session.get_one(Payment, made.payment_id)
    await anomalies.record(
        session,
        provider=payment.provider,
        kind="refund_failed",
        payment_id=payment.id,
        shop_id=made.shop_id,
        details={"refund": made.public_id, "amount": made.amount, "why": failure[:200]},
    )
    return True


async def _back_to_shop(session: AsyncSession, order: Order, made: Refund, money: Money) -> Legs:
    """A refused refund after release: the fee back to the platform, the rest to the shop's
    pending money if not settled yet, else to the shop (paying its debt first)."""
    settlement = await settlement_of(session, order.id)
    if settlement is None:
        raise RuntimeError(f"a refund after release of order {order.id} without its release")
    returned = Money(made.fee_returned, money.currency)
    settlement.refunded -= made.amount
    settlement.fee_returned -= made.fee_returned
    legs: Legs = [(ledger.fees(), returned)] if returned.amount else []
    if made.source == Source.pending and settlement.status == PENDING:
        return [*legs, (pending_of(order.shop_id), money - returned)]
    await lock_shop(session, order.shop_id)
    to_it, paying = await to_shop(session, order.shop_id, money - returned)
    settlement.debt_paid += paying
    return [*legs, *to_it]


# --- reads ----------------------------------------------------------------------------------


async def paying_payment(session: AsyncSession, order_id: int) -> Payment | None:
    """The payment that paid the order (another one is returned as it arrives)."""
    return await session.scalar(
        select(Payment).where(
            Payment.order_id == order_id,
            Payment.status.in_([PaymentStatus.paid.value, PaymentStatus.refunded.value]),
            Payment.stray.is_(False),
        )
    )


async def refunded_so_far(
    session: AsyncSession, payment_id: int, *, succeeded: bool = False
) -> int:
    """What of the payment is on its way back or back (`succeeded`: back)."""
    statuses = (
        [RefundStatus.succeeded.value]
        if succeeded
        else [status.value for status in RefundStatus if status is not RefundStatus.failed]
    )
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment_id, Refund.status.in_(statuses)
        )
    )
    return int(total or 0)


async def refundable(session: AsyncSession, settings: Settings, order: Order) -> int:
    """What the shop may refund of the order now (0 when nothing, or the window closed)."""
    payment = await paying_payment(session, order.id)
    if payment is None:
        return 0
    try:
        _check_window(settings, order)
    except Conflict:
        return 0
    left = payment.amount - await refunded_so_far(session, payment.id)
    _source, room = await _where(session, order)
    return max(min(left, room), 0)


def not_paid() -> Conflict:
    return Conflict(_("This order has not been paid."), code="not_paid")
