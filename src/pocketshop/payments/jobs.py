"""Timed work of payments: settle released money when due, and drive every operation not
final yet to a final state: open and closing payments (asked about, closed at the provider),
refunds, payouts, and stored notices not acted on. Each backs off (`retries`) and, past its
cap, is shown to the operator and tried daily: nothing is ever given up in silence."""

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.db import Database
from pocketshop.jobs import AnySweep, CallSweep, Sweep
from pocketshop.payments import calls, escrow, notices, refunds, service, withdrawals
from pocketshop.payments.setup import Payments


def sweeps(payments: Payments) -> list[AnySweep]:
    settings, providers = payments.settings, payments.providers

    async def advance_payment(db: Database, payment_id: int) -> bool:
        return await calls.advance_payment(db, settings, providers, payment_id) != "pending"

    async def advance_refund(db: Database, refund_id: int) -> bool:
        return await calls.advance_refund(db, settings, providers, refund_id)

    async def advance_withdrawal(db: Database, withdrawal_id: int) -> bool:
        return await calls.advance_withdrawal(db, settings, payments.payouts, withdrawal_id)

    async def act_on_notice(db: Database, notice_id: int) -> bool:
        return bool((await notices.act_on(db, settings, providers, notice_id)).outcome)

    async def settle(session: AsyncSession, settlement_id: int) -> bool:
        return await escrow.settle(session, settlement_id)

    return [
        Sweep("settle_releases", escrow.due, settle),
        CallSweep("advance_payments", service.payments_due, advance_payment),
        CallSweep("advance_refunds", refunds.due, advance_refund),
        CallSweep("advance_withdrawals", withdrawals.due, advance_withdrawal),
        CallSweep("process_stored_notices", notices.due, act_on_notice),
    ]
