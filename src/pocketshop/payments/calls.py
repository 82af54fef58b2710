"""Talking to providers and banks: the boundary for work that waits on the outside world.

Each function here reads what to ask in a transaction of its own, asks with no transaction
open (no row lock, no SQLite write lock held while the other side takes its time), and
records the answer in a new transaction, through the services. Routes and jobs call these;
services never do. An unclear answer (a timeout, a 5xx) is recorded as such and asked about
again later: it is never taken for a refusal.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.payments import refunds, sandbox, service, withdrawals
from pocketshop.payments.models import Payment, Refund, Withdrawal
from pocketshop.payments.providers import (
    Channel,
    Notice,
    NoticeState,
    Prepay,
    Provider,
    ProviderError,
    Providers,
    RefundRequest,
    RefundResult,
    RefundState,
    provider_of,
)
from pocketshop.payments.service import Opened
from pocketshop.payments.states import (
    OPEN_PAYMENTS,
    OPEN_REFUNDS,
    OPEN_WITHDRAWALS,
    PaymentStatus,
    RefundStatus,
    WithdrawalStatus,
)
from pocketshop.payments.withdrawals import PayoutError, PayoutResult, Payouts, PayoutState

log = logging.getLogger(__name__)
T = TypeVar("T")


async def prepay(providers: Providers, opened: Opened) -> Prepay:
    """Ask the provider to open the payment written down (its row is committed first, so
    however the call ends, the payment is asked about and closed in time)."""
    provider = provider_of(providers, opened.payment.provider)
    try:
        return await provider.prepay(opened.request)
    except ProviderError as exc:
        raise service.unavailable(provider.name) from exc


# --- payments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Open:
    provider: str
    out_trade_no: str
    closing: bool
    deadline: datetime | None


async def advance_payment(
    db: Database, settings: Settings, providers: Providers, payment_id: int
) -> str:
    """Ask the provider how an open payment stands and act on it: captured if paid (returned
    if its order no longer waits for it); when its order no longer waits for it (paid by
    another payment, or closed) or its deadline passed, closed at the provider first, and
    closed here once the provider says it is. How it stands after."""
    async with db.transaction(write=False) as session:
        payment = await session.get(Payment, payment_id)
        if payment is None or payment.status not in OPEN_PAYMENTS:
            return payment.status if payment is not None else ""
        asked = _Open(
            payment.provider,
            payment.out_trade_no,
            # Its order paid by another payment, or closed: it is to be closed too.
            payment.status == PaymentStatus.closing
            or not await service.order_waits_for(session, payment),
            payment.expires_at,
        )
    provider = provider_of(providers, asked.provider)
    try:
        notice, closed = await _standing(provider, asked)
    except ProviderError as exc:
        async with db.transaction() as session:
            await service.payment_asked(session, payment_id, unclear=str(exc) or "no answer")
        return "unknown"

    async def record(session: AsyncSession) -> str:
        if notice is not None and notice.state is not NoticeState.pending:
            return await service.apply(session, settings, providers, provider.name, notice)
        if closed:
            payment = await session.get_one(Payment, payment_id)
            await service.ended(session, payment, NoticeState.closed)
            return payment.status
        await service.payment_asked(
            session, payment_id, deadline=asked.deadline, closing=asked.closing
        )
        return "pending"

    async def count(session: AsyncSession, why: str) -> str:
        await service.payment_asked(session, payment_id, unclear=why)
        return "unknown"

    return await _recorded(db, record, count)


async def _standing(provider: Provider, asked: _Open) -> tuple[Notice | None, bool]:
    """What the provider says of the trade, and whether it is closed for good. A trade our
    order no longer waits for, or past its deadline, is closed at the provider: asked first
    (WeChat Pay's rule), and asked again after, since only the trade's state says whether it
    closed, or was paid meanwhile."""
    notice = await provider.query(asked.out_trade_no)
    if notice is not None and notice.state is not NoticeState.pending:
        return notice, False
    past_deadline = asked.deadline is not None and asked.deadline <= clock.now()
    if not (asked.closing or past_deadline):
        return notice, False
    await provider.close(asked.out_trade_no)
    after = await provider.query(asked.out_trade_no)
    if after is not None and after.state is not NoticeState.pending:
        return after, False
    # Not opened at the provider, or still open: payable until its deadline, not after.
    return after, past_deadline


# --- refunds ------------------------------------------------------------------------------


async def advance_refund(
    db: Database, settings: Settings, providers: Providers, refund_id: int
) -> bool:
    """Ask the provider to take a booked refund, or how one stands, and act on the answer;
    True when it is final now."""
    async with db.transaction(write=False) as session:
        made = await session.get(Refund, refund_id)
        if made is None or made.status not in OPEN_REFUNDS:
            return False
        payment = await session.get_one(Payment, made.payment_id)
        asked = refunds.request_of(made, payment, settings)
        status = RefundStatus(made.status)
    answer = await _refund_answer(provider_of(providers, payment.provider), asked, status)

    async def record(session: AsyncSession) -> bool:
        return await refunds.record(session, settings, refund_id, answer)

    async def count(session: AsyncSession, why: str) -> bool:
        await refunds.tried(session, refund_id, RefundResult(RefundState.unknown, failure=why))
        return False

    return await _recorded(db, record, count)


async def _refund_answer(
    provider: Provider, asked: RefundRequest, status: RefundStatus
) -> RefundResult:
    try:
        if status is RefundStatus.requested:
            return await provider.refund(asked)
        found = await provider.query_refund(asked)
        if found.state is RefundState.not_found and status is RefundStatus.unknown:
            return await provider.refund(asked)  # it never got there: ask again, same number
        return found
    except ProviderError as exc:
        return RefundResult(RefundState.unknown, failure=str(exc)[:200] or "no answer")


# --- payouts ------------------------------------------------------------------------------


async def advance_withdrawal(
    db: Database, settings: Settings, payouts: Payouts, withdrawal_id: int
) -> bool:
    """Send a withdrawal to the bank, or ask how it stands, and act on the answer; True when
    it is final now."""
    async with db.transaction(write=False) as session:
        withdrawal = await session.get(Withdrawal, withdrawal_id)
        if withdrawal is None or withdrawal.status not in OPEN_WITHDRAWALS:
            return False
        card_number = await withdrawals.card_number(session, settings, withdrawal)
        status = WithdrawalStatus(withdrawal.status)
    try:
        if not card_number:
            result = PayoutResult(PayoutState.failed, failure="no bank card")
        elif status is WithdrawalStatus.requested:
            result = await payouts.pay(withdrawal, card_number)
        else:
            result = await payouts.query(withdrawal)
            if result.state is PayoutState.not_found:
                result = await payouts.pay(withdrawal, card_number)  # same id: paid once
    except PayoutError as exc:
        result = PayoutResult(PayoutState.unknown, failure=str(exc)[:200] or "no answer")

    async def record(session: AsyncSession) -> bool:
        return await withdrawals.record(session, withdrawal_id, result)

    async def count(session: AsyncSession, why: str) -> bool:
        unclear = PayoutResult(PayoutState.unknown, failure=why)
        return await withdrawals.record(session, withdrawal_id, unclear)

    return await _recorded(db, record, count)


async def _recorded(
    db: Database,
    record: Callable[[AsyncSession], Awaitable[T]],
    count: Callable[[AsyncSession, str], Awaitable[T]],
) -> T:
    """Record an answer in a transaction of its own. When that fails it is rolled back
    whole, and the failed try is counted in another: the operation backs off, and past the
    cap is shown to the operator, instead of being retried every round, or dropped."""
    try:
        async with db.transaction() as session:
            return await record(session)
    except Exception as exc:
        log.exception("payments: recording an answer failed; tried again later")
        async with db.transaction() as session:
            return await count(session, repr(exc)[:200])


async def pay_in_sandbox(
    db: Database, settings: Settings, providers: Providers, buyer_id: int, number: str
) -> Payment:
    """What a buyer does with the sandbox, in one go: open the payment, press Pay on its
    page, and have us ask how it went (the demo's paid orders, and tests')."""
    async with db.transaction() as session:
        buyer = await session.get_one(User, buyer_id)
        opened = await service.open_payment(
            session,
            settings,
            providers,
            buyer,
            number,
            provider_name=sandbox.NAME,
            channel=Channel.page,
            client_ip="127.0.0.1",
        )
    await prepay(providers, opened)
    async with db.transaction() as session:
        await sandbox.buyer_acts(session, opened.payment.out_trade_no, pay=True)
    await advance_payment(db, settings, providers, opened.payment.id)
    async with db.transaction(write=False) as session:
        return await session.get_one(Payment, opened.payment.id)
