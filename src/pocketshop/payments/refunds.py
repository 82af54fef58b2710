"""Refunds: money back to the buyer through the provider the order was paid with.

A refund is booked in our ledger when asked for (out of the order's escrow, or out of its
shop's pending money once receipt was confirmed, with the platform's fee on it), so two
refunds racing for the same money cannot both have it: the guarded accounts refuse the
second. The provider is called after commit (the outbox) with the refund's own idempotency
key (`out_refund_no`), and its answer finishes the refund: the money leaves, or comes back.
"""

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, outbox
from pocketshop.config import Settings
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.ledger import service as ledger
from pocketshop.ledger.service import Account, AccountKind
from pocketshop.money import Money
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderStatus
from pocketshop.payments import anomalies, escrow, states
from pocketshop.payments.models import Payment, Refund, new_public_id
from pocketshop.payments.providers import (
    Notice,
    NoticeState,
    Provider,
    Providers,
    RefundResult,
    provider_of,
)
from pocketshop.payments.states import PaymentStatus, RefundStatus

SUBMIT_TOPIC = "payments.refund"
FROM_ESCROW = "escrow"
FROM_PENDING = "pending"
# Orders a full refund closes (their stock not yet shipped goes back on sale).
CLOSES = (OrderStatus.paid, OrderStatus.partially_shipped, OrderStatus.shipped)
REASON_MAX = 200
STUCK = "stuck at the provider"


def refunding_of(order_id: int, shop_id: int) -> Account:
    return Account.of_order(AccountKind.order_refunding, order_id, shop_id)


async def refunded_so_far(session: AsyncSession, payment: Payment) -> int:
    """Asked for and not failed: what of this payment is on its way back or back."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status != RefundStatus.failed.value
        )
    )
    return int(total or 0)


async def refundable(session: AsyncSession, order: Order, payment: Payment) -> tuple[int, str]:
    """How much of the payment can still go back, and from where."""
    left = payment.amount - await refunded_so_far(session, payment)
    settlement = await escrow.settlement_of(session, order.id)
    if settlement is None:
        held = await ledger.balance(session, escrow.escrow_of(order), payment.currency)
        return min(left, held.amount), FROM_ESCROW
    if settlement.status != escrow.PENDING:
        raise Conflict(
            _("This order's money has been settled to the shop; ask the shop for after-sales."),
            code="already_settled",
        )
    return min(left, escrow.refundable(settlement)), FROM_PENDING


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


async def request(
    session: AsyncSession,
    *,
    order: Order,
    payment: Payment,
    amount: int,
    requested_by: str,
    reason: str = "",
    idempotency_key: str | None = None,
    closes_order: bool = True,
) -> Refund:
    """Book a refund and queue it for the provider. A whole refund of an order not yet
    received closes it (unless `closes_order` is False: a second payment of a paid order
    goes back, the order stays). Refused: not a positive whole amount, above what is left
    (422)."""
    if idempotency_key is not None:
        existing = await _with_key(session, order, idempotency_key, amount)
        if existing is not None:
            return existing
    if type(amount) is not int or amount <= 0:
        raise InvalidInput(
            _("A refund must be a positive amount."), code="invalid_amount", field="amount"
        )
    clean_reason = " ".join(reason.split())[:REASON_MAX]
    left, source = await refundable(session, order, payment)
    if amount > left:
        raise InvalidInput(
            _(
                "At most %(left)s can be refunded.",
                left=Money(max(left, 0), payment.currency).format(),
            ),
            code="refund_too_large",
            field="amount",
        )
    refund = await states.create(
        session,
        Refund,
        {
            "public_id": new_public_id(),
            "payment_id": payment.id,
            "order_id": order.id,
            "shop_id": order.shop_id,
            "amount": amount,
            "currency": payment.currency,
            "status": RefundStatus.requested.value,
            "reason": clean_reason,
            "requested_by": requested_by,
            "out_refund_no": uuid.uuid4().hex,
            "idempotency_key": idempotency_key,
            "source": source,
            "created_at": clock.now(),
        },
        actor=requested_by,
    )
    if refund is None:  # the same key, in a parallel request that committed first
        if idempotency_key is not None:
            existing = await _with_key(session, order, idempotency_key, amount)
            if existing is not None:
                return existing
        raise Conflict(_("Please try again."), code="try_again")
    await _book(session, order, refund)
    outbox.enqueue(session, SUBMIT_TOPIC, {"refund_id": refund.id})
    if closes_order and amount == left and order.status in CLOSES:
        await orders.close_refunded(session, order)
    return refund


async def _book(session: AsyncSession, order: Order, refund: Refund) -> None:
    money = Money(refund.amount, refund.currency)
    legs: list[tuple[Account, Money]] = [(refunding_of(order.id, order.shop_id), money)]
    if refund.source == FROM_ESCROW:
        legs.append((escrow.escrow_of(order), -money))
    else:
        settlement = await escrow.settlement_of(session, order.id)
        if settlement is None:
            raise RuntimeError("a refund from pending money without a settlement")
        returned = await escrow.take_for_refund(session, settlement, refund.amount)
        refund.fee_returned = returned
        legs.append((escrow.pending_of(order.shop_id), -(money - Money(returned, money.currency))))
        if returned:
            legs.append((ledger.fees(), -Money(returned, money.currency)))
    await ledger.post(
        session,
        kind="refund",
        reference=f"refund:{refund.id}",
        legs=legs,
        shop_id=order.shop_id,
        order_id=order.id,
    )


async def refund_rest(session: AsyncSession, order: Order, *, reason: str) -> Refund | None:
    """A paid order closed: what is left of its payment goes back, all of it."""
    payment = await session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.status == PaymentStatus.paid.value)
        .order_by(Payment.id)
        .limit(1)
    )
    if payment is None:
        return None
    left, _source = await refundable(session, order, payment)
    if left <= 0:
        return None
    return await request(
        session, order=order, payment=payment, amount=left, requested_by="system", reason=reason
    )


async def submit(
    session: AsyncSession, providers: Providers, settings: Settings, refund_id: int
) -> RefundResult | None:
    """Send a booked refund to the provider (again, safely: its out_refund_no makes the
    provider do it once) and act on the answer."""
    refund = await session.get(Refund, refund_id)
    if refund is None or refund.status != RefundStatus.requested:
        return None
    payment = await session.get_one(Payment, refund.payment_id)
    provider = provider_of(providers, payment.provider)
    result = await provider.refund(
        session,
        out_trade_no=payment.out_trade_no,
        out_refund_no=refund.out_refund_no,
        amount=refund.amount,
        total=payment.amount,
        currency=refund.currency,
        notify_url=f"{settings.public_base_url.rstrip('/')}/api/v1/payments/{provider.name}/notify",
    )
    await session.refresh(refund)  # the provider was waited on outside the transaction
    await finish(session, refund, result, settings=settings)
    return result


async def finish(
    session: AsyncSession,
    refund: Refund,
    result: RefundResult,
    *,
    settings: Settings | None = None,
) -> bool:
    """The provider's answer: money out of our books (refunded), back where it came from
    (failed), asked again later (pending), or left to the operator (stuck). False when it was
    finished already: the same answer again changes nothing, a different one is recorded
    for the operator."""
    if refund.status != RefundStatus.requested:
        same = (
            NoticeState.refunded
            if refund.status == RefundStatus.succeeded
            else NoticeState.refund_failed
        )
        if result.state not in (same, NoticeState.pending):
            await _record(session, refund, "refund_outcome_changed", result)
        return False
    if result.state is NoticeState.pending:
        if settings is not None:
            refund.query_after = clock.now() + timedelta(minutes=settings.reconcile_after_minutes)
        return False
    if result.state is NoticeState.refund_stuck:
        if refund.failure != STUCK:  # once: not asked again, nor recorded again
            refund.failure = STUCK
            refund.query_after = None
            await _record(session, refund, "refund_stuck", result)
        return False
    succeeded = result.state is NoticeState.refunded
    moved = await states.move(
        session,
        refund,
        RefundStatus.succeeded if succeeded else RefundStatus.failed,
        actor="provider",
        reason=result.failure,
        values={
            "finished_at": clock.now(),
            "provider_refund_id": result.refund_id or refund.provider_refund_id,
            "failure": result.failure[:200],
            "query_after": None,
        },
    )
    if not moved:
        return False
    order = await orders.get(session, refund.order_id)
    payment = await session.get_one(Payment, refund.payment_id)
    money = Money(refund.amount, refund.currency)
    refunding = refunding_of(order.id, order.shop_id)
    if succeeded:
        await ledger.post(
            session,
            kind="refund_sent",
            reference=f"refund_sent:{refund.id}",
            legs=[(refunding, -money), (ledger.clearing(payment.provider), money)],
            shop_id=order.shop_id,
            order_id=order.id,
        )
        if await refunded_so_far(session, payment) >= payment.amount:
            await states.move(session, payment, PaymentStatus.refunded, actor="system")
        return True
    await _give_back(session, order, refund, money)
    await _record(session, refund, "refund_failed", result)
    return True


async def _record(session: AsyncSession, refund: Refund, kind: str, result: RefundResult) -> None:
    """A refund the operator should look at."""
    payment = await session.get_one(Payment, refund.payment_id)
    await anomalies.record(
        session,
        provider=payment.provider,
        kind=kind,
        payment_id=refund.payment_id,
        details={
            "refund": refund.public_id,
            "amount": refund.amount,
            "status": refund.status,
            "answer": result.state.value,
            "why": result.failure,
        },
    )


async def _give_back(session: AsyncSession, order: Order, refund: Refund, money: Money) -> None:
    """A refund the provider refused: its money back where it came from, or, if the shop's
    pending money has been settled meanwhile, to the shop's available money."""
    legs: list[tuple[Account, Money]] = [(refunding_of(order.id, order.shop_id), -money)]
    if refund.source == FROM_ESCROW:
        legs.append((escrow.escrow_of(order), money))
    else:
        returned = Money(refund.fee_returned, money.currency)
        settlement = await escrow.settlement_of(session, order.id)
        still_pending = settlement is not None and await escrow.give_back(
            session, settlement, refund.amount, refund.fee_returned
        )
        target = escrow.pending_of if still_pending else escrow.available_of
        legs.append((target(order.shop_id), money - returned))
        if returned.amount:
            legs.append((ledger.fees(), returned))
    await ledger.post(
        session,
        kind="refund_failed",
        reference=f"refund_failed:{refund.id}",
        legs=legs,
        shop_id=order.shop_id,
        order_id=order.id,
    )


async def apply_notice(
    session: AsyncSession, provider: Provider, notice: Notice, *, notice_id: int | None
) -> str:
    """A provider's word on a refund, acted on if it is about one of ours, as we asked it."""
    refund = await session.scalar(
        select(Refund).where(Refund.out_refund_no == notice.out_refund_no)
    )
    payment = await session.get(Payment, refund.payment_id) if refund is not None else None
    if refund is None or payment is None:
        kind = "unknown_refund"
    elif (
        payment.provider != provider.name
        or payment.out_trade_no != notice.out_trade_no
        or notice.merchant != provider.merchant
        or (notice.amount is not None and notice.amount != refund.amount)
    ):
        kind = "refund_mismatch"
    else:
        await finish(session, refund, RefundResult(notice.state, refund_id=notice.event_key))
        return notice.state.value
    await anomalies.record(
        session,
        provider=provider.name,
        kind=kind,
        payment_id=payment.id if payment else None,
        notice_id=notice_id,
        details=notice.facts(),
    )
    return kind


async def get_for_shop_or_404(session: AsyncSession, shop_id: int, public_id: str) -> Refund:
    refund = await session.scalar(
        select(Refund).where(Refund.public_id == public_id, Refund.shop_id == shop_id)
    )
    if refund is None:
        raise NotFound(_("No such refund in your shop."), code="refund_not_found")
    return refund


async def of_order(session: AsyncSession, order_id: int) -> list[Refund]:
    return list(
        await session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))
    )
