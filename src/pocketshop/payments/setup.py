"""Wiring payments into an app or a worker: the configured providers and payouts, and the
outbox handlers (provider and bank calls right after the transaction that asked for them
commits; the sweeps in payments.jobs take up whatever they leave unfinished)."""

from dataclasses import dataclass
from typing import Any

from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders import actions
from pocketshop.orders.service import CloseReason
from pocketshop.outbox import Handler
from pocketshop.payments import calls, escrow, requests, service, withdrawals
from pocketshop.payments.alipay import AlipayProvider
from pocketshop.payments.providers import Provider
from pocketshop.payments.sandbox import SandboxProvider
from pocketshop.payments.wechatpay import WeChatPayProvider


@dataclass(frozen=True)
class Payments:
    """What the payments domain needs at run time, made once per app or worker."""

    settings: Settings
    providers: dict[str, Provider]
    payouts: withdrawals.Payouts


def make_providers(settings: Settings, db: Database) -> dict[str, Provider]:
    made: dict[str, Provider] = {}
    for name in settings.payment_providers:
        if name == "sandbox":
            made[name] = SandboxProvider(settings, db)
        elif name == "wechatpay":
            made[name] = WeChatPayProvider(settings)
        elif name == "alipay":
            made[name] = AlipayProvider(settings)
        else:
            raise ValueError(f"unknown payment provider {name!r}")
    return made


def install(db: Database, settings: Settings) -> Payments:
    return Payments(
        settings=settings,
        providers=make_providers(settings, db),
        payouts=withdrawals.make_payouts(settings.payout_backend),
    )


def outbox_handlers(db: Database, payments: Payments) -> dict[str, Handler]:
    """Provider and bank calls, each between transactions of their own, after the one that
    asked for them committed."""
    settings, providers = payments.settings, payments.providers

    async def submit_refund(payload: dict[str, Any]) -> None:
        await calls.advance_refund(db, settings, providers, int(payload["refund_id"]))

    async def close_payment(payload: dict[str, Any]) -> None:
        await calls.advance_payment(db, settings, providers, int(payload["payment_id"]))

    async def pay_out(payload: dict[str, Any]) -> None:
        await calls.advance_withdrawal(
            db, settings, payments.payouts, int(payload["withdrawal_id"])
        )

    async def close_request_orders(payload: dict[str, Any]) -> None:
        async with db.transaction(write=False) as session:
            waiting = await requests.waiting_orders(session, int(payload["request_id"]))
        for order_id in waiting:
            async with db.transaction() as session:
                await actions.close_unpaid(
                    session, settings, order_id, reason=CloseReason.request_closed
                )

    return {
        escrow.SUBMIT_TOPIC: submit_refund,
        service.CLOSE_TOPIC: close_payment,
        withdrawals.PAYOUT_TOPIC: pay_out,
        requests.CLOSE_ORDERS_TOPIC: close_request_orders,
    }
