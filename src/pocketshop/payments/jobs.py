"""Timed work of payments: settle released money when due, ask providers about payments and
refunds still open (reconciliation), and act on stored notices that failed half-way."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.jobs import Sweep, due_ids
from pocketshop.payments import escrow, refunds, service
from pocketshop.payments.models import Payment, ProviderNotice, Refund
from pocketshop.payments.setup import Payments
from pocketshop.payments.states import PaymentStatus, RefundStatus

# A notice stored but not acted on this long after it came failed half-way: take it up.
NOTICE_RETRY_AFTER = timedelta(minutes=1)


async def open_payments_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    return await due_ids(
        session,
        Payment.id,
        Payment.status == PaymentStatus.created.value,
        Payment.query_after <= now,
        order_by=Payment.query_after,
        limit=limit,
    )


async def open_refunds_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    return await due_ids(
        session,
        Refund.id,
        Refund.status == RefundStatus.requested.value,
        Refund.query_after <= now,
        order_by=Refund.query_after,
        limit=limit,
    )


async def stuck_notices(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    return await due_ids(
        session,
        ProviderNotice.id,
        ProviderNotice.processed_at.is_(None),
        ProviderNotice.received_at <= now - NOTICE_RETRY_AFTER,
        order_by=ProviderNotice.received_at,
        limit=limit,
    )


def sweeps(payments: Payments) -> list[Sweep]:
    async def reconcile_payment(session: AsyncSession, payment_id: int) -> bool:
        payment = await session.get_one(Payment, payment_id)
        outcome = await service.refresh(session, payments.providers, payment)
        if payment.status == PaymentStatus.created:
            # Still open: ask again later (the order's timeout closes it in the end).
            payment.query_after = service.next_query(payments.settings)
        return outcome in ("paid", "failed", "closed")

    async def retry_refund(session: AsyncSession, refund_id: int) -> bool:
        result = await refunds.submit(session, payments.providers, payments.settings, refund_id)
        return result is not None

    async def process_notice(session: AsyncSession, notice_id: int) -> bool:
        return bool(await service.process_notice(session, payments.providers, notice_id))

    return [
        Sweep("settle_releases", escrow.due, escrow.settle),
        Sweep("reconcile_payments", open_payments_due, reconcile_payment),
        Sweep("retry_refunds", open_refunds_due, retry_refund),
        Sweep("process_stored_notices", stuck_notices, process_notice),
    ]
