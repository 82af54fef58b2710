"""Wiring payments into an app or a worker: the configured providers, the order hooks (money
follows an order's moves in the same transaction), and the outbox handlers (provider calls
after commit)."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import outbox
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderSource, OrderStatus
from pocketshop.outbox import Handler
from pocketshop.payments import escrow, refunds, requests, service, withdrawals
from pocketshop.payments.alipay import AlipayProvider
from pocketshop.payments.models import Payment
from pocketshop.payments.providers import Provider, provider_of
from pocketshop.payments.sandbox import SandboxProvider
from pocketshop.payments.wechatpay import WeChatPayProvider

CLOSE_TOPIC = "payments.close"


@dataclass(frozen=True)
class Payments:
    """What the payments domain needs at run time, made once per app or worker."""

    settings: Settings
    providers: dict[str, Provider]
    payouts: withdrawals.Payouts


def make_providers(settings: Settings) -> dict[str, Provider]:
    made: dict[str, Provider] = {}
    for name in settings.payment_providers:
        if name == "sandbox":
            made[name] = SandboxProvider(settings)
        elif name == "wechatpay":
            made[name] = WeChatPayProvider(settings)
        elif name == "alipay":
            made[name] = AlipayProvider(settings)
        else:
            raise ValueError(f"unknown payment provider {name!r}")
    return made


def install(db: Database, settings: Settings) -> Payments:
    """Make the providers and hook payments into the orders of this database."""
    payments = Payments(
        settings=settings,
        providers=make_providers(settings),
        payouts=withdrawals.make_payouts(settings.payout_backend),
    )

    async def order_moved(
        session: AsyncSession, order: Order, before: OrderStatus, after: OrderStatus
    ) -> None:
        from_request = order.source == OrderSource.payment_request
        if after is OrderStatus.completed:
            await escrow.release(session, settings, order)
        elif after is OrderStatus.paid:
            if from_request:
                await requests.order_paid(session, order)
        elif after is OrderStatus.closed and before is OrderStatus.pending_payment:
            if from_request:
                await requests.order_closed(session, order)
            for payment in await service.close_open(session, order):
                _queue_close(session, payment)
        elif after is OrderStatus.closed:
            await refunds.refund_rest(session, order, reason=order.close_reason or "")

    db.session_info[orders.HOOKS_KEY] = [order_moved]
    return payments


def _queue_close(session: AsyncSession, payment: Payment) -> None:
    outbox.enqueue(session, CLOSE_TOPIC, {"payment_id": payment.id})


def outbox_handlers(db: Database, payments: Payments) -> dict[str, Handler]:
    """Provider and bank calls, each in a transaction of its own after the one that asked."""

    async def submit_refund(payload: dict[str, Any]) -> None:
        async with db.transaction() as session:
            await refunds.submit(
                session, payments.providers, payments.settings, int(payload["refund_id"])
            )

    async def close_payment(payload: dict[str, Any]) -> None:
        async with db.transaction() as session:
            payment = await session.get(Payment, int(payload["payment_id"]))
            if payment is not None:
                provider = provider_of(payments.providers, payment.provider)
                await provider.close(session, payment.out_trade_no)

    async def pay_out(payload: dict[str, Any]) -> None:
        async with db.transaction() as session:
            await withdrawals.pay_out(
                session, payments.settings, payments.payouts, int(payload["withdrawal_id"])
            )

    return {
        refunds.SUBMIT_TOPIC: submit_refund,
        CLOSE_TOPIC: close_payment,
        withdrawals.PAYOUT_TOPIC: pay_out,
    }
