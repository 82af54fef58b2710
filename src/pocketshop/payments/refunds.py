"""Refunds after they are booked: asking the provider to pay the buyer back, and finding out
how it went.

The money path books a refund (`escrow.refund`: its money is on its way back in our ledger)
and queues it. From then on `advance` (payments.calls) asks the provider, outside any
transaction, to take it, or, once taken or when the answer was lost, how it stands (the
provider's refund query, with the same out_refund_no: the provider refunds once however
often it is asked); and `record` acts on the answer in a transaction of its own. An answer
that says nothing clear (a timeout, a 5xx, an error not documented as final) never counts as
a refusal: the refund is `unknown` until a query says how it stands. Tries back off; past
the cap the operator is told, and the refund is asked about daily (`retries`).
"""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.config import Settings
from pocketshop.errors import NotFound
from pocketshop.i18n import _
from pocketshop.orders import service as orders
from pocketshop.payments import anomalies, escrow, retries, states
from pocketshop.payments.models import Payment, Refund
from pocketshop.payments.providers import (
    NOTICE_REFUND_STATES,
    Notice,
    Provider,
    RefundRequest,
    RefundResult,
    RefundState,
)
from pocketshop.payments.states import OPEN_REFUNDS, RefundStatus

STUCK = "stuck at the provider"


def request_of(made: Refund, payment: Payment, settings: Settings) -> RefundRequest:
    """What the provider is asked, the same on every try."""
    base = settings.own_url
    return RefundRequest(
        out_trade_no=payment.out_trade_no,
        out_refund_no=made.out_refund_no,
        amount=made.amount,
        total=payment.amount,
        currency=made.currency,
        notify_url=f"{base}/api/v1/payments/{payment.provider}/notify",
    )


async def record(
    session: AsyncSession, settings: Settings, refund_id: int, answer: RefundResult
) -> bool:
    """Act on how the provider says a refund stands; True when it is final now."""
    made = await session.get_one(Refund, refund_id)
    if made.order_id is not None:
        await orders.lock(session, made.order_id)  # the order first, as every money step
    await session.refresh(made)
    if made.status not in OPEN_REFUNDS:
        await _contradicted(session, made, answer)
        return False
    if answer.state is RefundState.refunded:
        return await escrow.refund_sent(session, made, answer.refund_id)
    if answer.state is RefundState.refused:
        return await escrow.refund_refused(session, settings, made, answer.failure or "refused")
    if answer.state in (RefundState.processing, RefundState.stuck):
        if made.status != RefundStatus.processing:
            await states.move(session, made, RefundStatus.processing, actor="provider")
        if answer.state is RefundState.stuck and made.failure != STUCK:
            made.failure = STUCK  # told once: someone must act at the provider
            await _tell(session, made, "refund_stuck", answer)
    elif made.status == RefundStatus.requested:
        # The provider's word was lost or unclear: it may have taken it. Ask, never assume.
        await states.move(
            session, made, RefundStatus.unknown, actor="system", reason=answer.failure[:200]
        )
    await _again_later(session, made, answer)
    return False


async def tried(session: AsyncSession, refund_id: int, answer: RefundResult) -> None:
    """A try that settled nothing (recording its answer failed): asked again later."""
    await _again_later(session, await session.get_one(Refund, refund_id), answer)


async def _again_later(session: AsyncSession, made: Refund, answer: RefundResult) -> None:
    if retries.tried(made):
        await _tell(session, made, "refund_overdue", answer)


async def _contradicted(session: AsyncSession, made: Refund, answer: RefundResult) -> None:
    """A finished refund's outcome said again changes nothing; a different one is told."""
    said = RefundState.refunded if made.status == RefundStatus.succeeded else RefundState.refused
    if answer.state in (RefundState.refunded, RefundState.refused) and answer.state is not said:
        await _tell(session, made, "refund_outcome_changed", answer)


async def _tell(session: AsyncSession, made: Refund, kind: str, answer: RefundResult) -> None:
    """A refund the operator should look at."""
    payment = await session.get_one(Payment, made.payment_id)
    await anomalies.record(
        session,
        provider=payment.provider,
        kind=kind,
        payment_id=made.payment_id,
        shop_id=made.shop_id,
        details={
            "refund": made.public_id,
            "amount": made.amount,
            "status": made.status,
            "answer": answer.state.value,
            "why": answer.failure,
            "attempts": made.attempts,
        },
    )


async def apply_notice(
    session: AsyncSession,
    settings: Settings,
    provider: Provider,
    notice: Notice,
    *,
    notice_id: int | None,
) -> str:
    """A provider's word on a refund, acted on if it is about one of ours, as we asked it."""
    made = await session.scalar(select(Refund).where(Refund.out_refund_no == notice.out_refund_no))
    payment = await session.get(Payment, made.payment_id) if made is not None else None
    if made is None or payment is None:
        kind = "unknown_refund"
    elif (
        payment.provider != provider.name
        or payment.out_trade_no != notice.out_trade_no
        or not notice.for_us(provider.identity)
        or (notice.amount is not None and notice.amount != made.amount)
    ):
        kind = "refund_mismatch"
    else:
        state = NOTICE_REFUND_STATES.get(notice.state, RefundState.unknown)
        await record(session, settings, made.id, RefundResult(state, refund_id=notice.event_key))
        return notice.state.value
    await anomalies.record(
        session,
        provider=provider.name,
        kind=kind,
        payment_id=payment.id if payment else None,
        shop_id=made.shop_id if made else None,
        notice_id=notice_id,
        details=notice.facts(),
    )
    return kind


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Refunds not final whose next try is due, the most overdue first."""
    return list(
        await session.scalars(
            select(Refund.id)
            .where(
                Refund.status.in_([status.value for status in OPEN_REFUNDS]),
                Refund.query_after <= now,
            )
            .order_by(Refund.query_after)
            .limit(limit)
        )
    )


async def get_for_shop_or_404(session: AsyncSession, shop_id: int, public_id: str) -> Refund:
    refund = await session.scalar(
        select(Refund).where(Refund.public_id == public_id, Refund.shop_id == shop_id)
    )
    if refund is None:
        raise NotFound(_("No such refund in your shop."), code="refund_not_found")
    return refund


async def refunded_of_orders(
    session: AsyncSession, shop_id: int, order_ids: set[int]
) -> dict[int, int]:
    """Fen refunded (refunds that succeeded) of each of a shop's orders, in one query: bounded
    by the ids' range (a list of ids could pass a database's limit of parameters), then
    checked against their set."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(Refund.order_id, func.sum(Refund.amount))
        .where(
            Refund.shop_id == shop_id,
            Refund.status == RefundStatus.succeeded.value,
            Refund.order_id.between(min(order_ids), max(order_ids)),
        )
        .group_by(Refund.order_id)
    )
    return {
        order_id: int(total)
        for order_id, total in rows
        if order_id is not None and order_id in order_ids
    }


async def of_order(session: AsyncSession, order_id: int) -> list[Refund]:
    return list(
        await session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))
    )
