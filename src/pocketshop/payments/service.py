"""Paying for orders: opening a payment with a provider, and acting once on what the provider
says (its notifications, or our queries), the money moving through the money path (escrow).

A provider's word is kept and answered first, then acted on (payments.notices); what acting
does is `apply`. Calls to the provider itself happen between transactions (payments.calls).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, outbox
from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.db import for_update
from pocketshop.errors import Conflict, InvalidInput, NotFound, ProviderUnavailable
from pocketshop.i18n import _
from pocketshop.ledger import service as ledger
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderSource, OrderStatus
from pocketshop.payments import anomalies, escrow, refunds, requests, retries, states
from pocketshop.payments.balances import escrow_of, fee_of
from pocketshop.payments.escrow import Captured
from pocketshop.payments.models import Payment, Refund, new_public_id
from pocketshop.payments.providers import (
    Channel,
    Notice,
    NoticeState,
    PayRequest,
    Provider,
    Providers,
    label,
    provider_of,
)
from pocketshop.payments.states import OPEN_PAYMENTS, PaymentStatus

# The least time a payment may still be made in: a provider refuses a deadline sooner.
LAST_MINUTE = timedelta(minutes=1)
# A payment whose order no longer waits for it: asked about and closed at its provider.
CLOSE_TOPIC = "payments.close"

# Built once (building a statement costs more than running it). The buyer's order, with its
# payment still open with this provider and channel if any.
_ORDER_TO_PAY = (
    select(Order, Payment)
    .outerjoin(
        Payment,
        (Payment.order_id == Order.id)
        & (Payment.provider == bindparam("provider"))
        & (Payment.channel == bindparam("channel"))
        & (Payment.status == PaymentStatus.created.value),
    )
    .where(Order.number == bindparam("number"), Order.buyer_id == bindparam("buyer_id"))
    .limit(1)
)
_PAYMENT_BY_TRADE = select(Payment).where(
    Payment.provider == bindparam("provider"),
    Payment.out_trade_no == bindparam("out_trade_no"),
)
# With its order, whose row it locks: the lock every step of the order's money takes first.
_PAYMENT_AND_ORDER = (
    select(Payment, Order)
    .join(Order, Order.id == Payment.order_id)
    .where(
        Payment.provider == bindparam("provider"),
        Payment.out_trade_no == bindparam("out_trade_no"),
    )
)


@dataclass(frozen=True)
class Opened:
    """A payment written down, and what its provider is to be asked (after commit)."""

    payment: Payment
    order_number: str
    request: PayRequest


async def open_payment(
    session: AsyncSession,
    settings: Settings,
    providers: Providers,
    buyer: User,
    number: str,
    *,
    provider_name: str,
    channel: Channel,
    client_ip: str,
    openid: str = "",
) -> Opened:
    """Open (or reopen) a payment of the buyer's unpaid order with a provider; the amount is
    the order's total, never the client's word, and its deadline the order's. The provider
    is asked after this transaction commits (payments.calls.prepay). `client_ip` is the
    buyer's own address, whole (web.routing.client_address): WeChat Pay H5 is told it."""
    provider = provider_of(providers, provider_name)
    if channel not in provider.channels:
        raise InvalidInput(_("This way of paying is not offered."), code="channel_not_offered")
    if channel is Channel.jsapi and not openid:  # the buyer's own, from WeChat sign-in
        openid = await accounts.openid_of(session, buyer.id, settings.wechatpay_appid) or ""
    if channel is Channel.jsapi and not openid:
        raise InvalidInput(
            _("Paying inside WeChat needs signing in with WeChat first."),
            code="openid_required",
            field="openid",
        )
    found = (
        await session.execute(
            _ORDER_TO_PAY,
            {
                "number": number,
                "buyer_id": buyer.id,
                "provider": provider.name,
                "channel": channel.value,
            },
        )
    ).first()
    if found is None:
        raise orders.not_found()
    order, payment = found
    if order.status != OrderStatus.pending_payment:
        raise Conflict(_("This order is not waiting for payment."), code="not_payable")
    if order.pay_by is None or order.pay_by - LAST_MINUTE <= clock.now():
        raise Conflict(
            _("This order is about to close unpaid. Please order again."), code="too_late"
        )
    if order.source == OrderSource.payment_request:
        await requests.check_payable(session, order)
    if payment is None:
        payment = await states.create(
            session,
            Payment,
            {
                "public_id": new_public_id(),
                "order_id": order.id,
                "shop_id": order.shop_id,
                "buyer_id": buyer.id,
                "provider": provider.name,
                "channel": channel.value,
                "amount": order.total,
                "currency": order.currency,
                "status": PaymentStatus.created.value,
                "out_trade_no": uuid.uuid4().hex,
                "created_at": clock.now(),
                "expires_at": order.pay_by,
                "query_after": next_query(settings, order.pay_by),
                "attempts": 0,
                "stray": False,
            },
            actor="buyer",
        )
        if payment is None:  # two random ids taken: cannot be
            raise RuntimeError("a new payment clashed")
    base = settings.own_url
    return Opened(
        payment,
        order.number,
        PayRequest(
            out_trade_no=payment.out_trade_no,
            description=_("Order %(number)s", number=order.number),
            amount=payment.amount,
            currency=payment.currency,
            channel=channel,
            notify_url=f"{base}/api/v1/payments/{provider.name}/notify",
            return_url=f"{base}/me/orders/{order.number}/return?payment={payment.public_id}",
            client_ip=client_ip,
            expires_at=order.pay_by,
            openid=openid,
        ),
    )


def unavailable(provider_name: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        _(
            "%(provider)s did not answer. Please try again in a moment.",
            provider=label(provider_name),
        )
    )


def next_query(settings: Settings, deadline: datetime | None) -> datetime:
    """When we first ask the provider about a payment still open: soon, and no later than
    just after its deadline, when it is closed."""
    first = clock.now() + timedelta(minutes=settings.reconcile_after_minutes)
    return first if deadline is None else min(first, deadline + LAST_MINUTE)


# --- what providers say (kept and claimed in payments.notices) -----------------------------------


async def apply(
    session: AsyncSession,
    settings: Settings,
    providers: Providers,
    provider_name: str,
    notice: Notice,
    *,
    notice_id: int | None = None,
) -> str:
    """What a provider said, done: a payment captured (into escrow, or returned), failed or
    closed; a refund finished. What does not match our books (an amount, a currency, a
    merchant or app id not ours) is recorded for the operator, never acted on."""
    provider = provider_of(providers, provider_name)
    if notice.kind == "refund":
        return await refunds.apply_notice(session, settings, provider, notice, notice_id=notice_id)
    payment = await _locked_by_trade(session, provider.name, notice.out_trade_no)
    if not notice.for_us(provider.identity):  # another merchant's or another app's
        return await anomaly(
            session, provider.name, "merchant_mismatch", notice, notice_id, payment
        )
    if payment is None:
        if notice.state is not NoticeState.paid:
            return await anomaly(session, provider.name, "unknown_payment", notice, notice_id)
        payment = await _orphan(session, provider, notice)
    elif notice.state is NoticeState.paid and (
        notice.amount != payment.amount or notice.currency != payment.currency
    ):
        return await anomaly(session, provider.name, "amount_mismatch", notice, notice_id, payment)
    if notice.state is NoticeState.paid:
        captured = await escrow.capture(session, payment, notice.transaction_id)
        if captured is Captured.paid:
            await _order_paid(session, settings, payment)
        return (captured or Captured.paid).value
    if notice.state is NoticeState.refunded_elsewhere:
        # Paid, then refunded at the provider by someone else: not ours to guess how much.
        # It pays nothing here, is asked about no more, and the operator is told.
        await ended(session, payment, NoticeState.closed)
        return await anomaly(
            session, provider.name, "refunded_elsewhere", notice, notice_id, payment
        )
    if notice.state in (NoticeState.failed, NoticeState.closed):
        await ended(session, payment, notice.state)
    return notice.state.value


async def ended(session: AsyncSession, payment: Payment, state: NoticeState) -> None:
    """The provider says the payment failed or was closed: so it is, if still open."""
    if payment.order_id is not None:
        await orders.lock(session, payment.order_id)
    await session.refresh(payment)
    if payment.status in OPEN_PAYMENTS:
        to = PaymentStatus.failed if state is NoticeState.failed else PaymentStatus.closed
        if payment.status == PaymentStatus.closing:
            to = PaymentStatus.closed
        await states.move(
            session,
            payment,
            to,
            actor="provider",
            values={"closed_at": clock.now(), "query_after": None},
        )


async def _order_paid(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    """The order is paid: a payment request it came from is paid by it (or, paid by another
    order first, this one is refunded whole). Its other open payments are closed at their
    providers when next asked about (payments.calls)."""
    if payment.order_id is None:
        return
    order = await orders.lock(session, payment.order_id)
    if order.source == OrderSource.payment_request:
        await requests.order_paid(session, settings, order)


async def _orphan(session: AsyncSession, provider: Provider, notice: Notice) -> Payment:
    """A payment the provider took for an out_trade_no we never made (signature and
    merchant verified): written down, to be returned."""
    made = await states.create(
        session,
        Payment,
        {
            "public_id": new_public_id(),
            "order_id": None,
            "shop_id": None,
            "buyer_id": None,
            "provider": provider.name,
            "channel": "unknown",
            "amount": notice.amount or 0,
            "currency": notice.currency or "CNY",
            "status": PaymentStatus.created.value,
            "out_trade_no": notice.out_trade_no[:32],
            "created_at": clock.now(),
            "attempts": 0,
            "stray": True,
        },
        actor="provider",
    )
    if made is None:  # written by a parallel notice meanwhile
        found = await _by_trade(session, provider.name, notice.out_trade_no)
        if found is None:
            raise RuntimeError("an orphan payment that clashed is not there")
        return found
    return made


async def _locked_by_trade(
    session: AsyncSession, provider: str, out_trade_no: str
) -> Payment | None:
    """The payment, its order locked in the same statement; a payment of no order (an
    orphan written down before) read alone; or None."""
    found = (
        await session.execute(
            for_update(session, _PAYMENT_AND_ORDER, of=Order),
            {"provider": provider, "out_trade_no": out_trade_no},
            execution_options={"populate_existing": True},
        )
    ).first()
    if found is None:
        return await _by_trade(session, provider, out_trade_no)
    payment, order = found
    orders.hold(session, order)
    return payment


async def _by_trade(session: AsyncSession, provider: str, out_trade_no: str) -> Payment | None:
    return await session.scalar(
        _PAYMENT_BY_TRADE, {"provider": provider, "out_trade_no": out_trade_no}
    )


async def anomaly(
    session: AsyncSession,
    provider: str,
    kind: str,
    notice: Notice,
    notice_id: int | None,
    payment: Payment | None = None,
) -> str:
    await anomalies.record(
        session,
        provider=provider,
        kind=kind,
        payment_id=payment.id if payment else None,
        shop_id=payment.shop_id if payment else None,
        notice_id=notice_id,
        details={
            **notice.facts(),
            "expected_amount": payment.amount if payment else None,
            "expected_currency": payment.currency if payment else None,
        },
    )
    return kind


async def close_open(session: AsyncSession, order: Order) -> None:
    """The order closed: its open payments are closing, asked about and closed at their
    providers right after commit (payments.calls)."""
    for payment in await session.scalars(
        select(Payment).where(
            Payment.order_id == order.id, Payment.status == PaymentStatus.created.value
        )
    ):
        await states.move(
            session,
            payment,
            PaymentStatus.closing,
            actor="system",
            reason=order.close_reason or "",
            values={"query_after": clock.now() + retries.FIRST},
        )
        outbox.enqueue(session, CLOSE_TOPIC, {"payment_id": payment.id})


async def order_waits_for(session: AsyncSession, payment: Payment) -> bool:
    """Whether the payment's order still waits to be paid."""
    if payment.order_id is None:
        return False
    status = await session.scalar(select(Order.status).where(Order.id == payment.order_id))
    return status == OrderStatus.pending_payment


async def payment_asked(
    session: AsyncSession,
    payment_id: int,
    *,
    unclear: str = "",
    deadline: datetime | None = None,
    closing: bool = False,
) -> None:
    """The provider was asked about an open payment and it is still open (or the answer was
    unclear): ask again later, backing off; past the cap the operator is told. One whose
    order no longer waits for it is `closing` from now on."""
    payment = await session.get_one(Payment, payment_id)
    if payment.order_id is not None:
        await orders.lock(session, payment.order_id)
    await session.refresh(payment)
    if payment.status not in OPEN_PAYMENTS:
        return
    if closing and payment.status == PaymentStatus.created:
        await states.move(session, payment, PaymentStatus.closing, actor="system")
    if unclear:
        if retries.tried(payment):
            await anomalies.record(
                session,
                provider=payment.provider,
                kind="payment_overdue",
                payment_id=payment.id,
                shop_id=payment.shop_id,
                details={"status": payment.status, "why": unclear[:200]},
            )
        return
    # Still payable: ask again at twice the wait so far, and just after its deadline at last.
    waited = max(clock.now() - payment.created_at, retries.FIRST)
    again = clock.now() + waited
    if deadline is not None:
        again = min(again, deadline + LAST_MINUTE)
    payment.query_after = again


async def payments_due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Open and closing payments whose next question is due."""
    return list(
        await session.scalars(
            select(Payment.id)
            .where(
                Payment.status.in_([status.value for status in OPEN_PAYMENTS]),
                Payment.query_after <= now,
            )
            .order_by(Payment.query_after)
            .limit(limit)
        )
    )


# --- reads ----------------------------------------------------------------------------------


async def get_for_buyer_or_404(session: AsyncSession, buyer: User, public_id: str) -> Payment:
    payment = await session.scalar(
        select(Payment).where(Payment.public_id == public_id, Payment.buyer_id == buyer.id)
    )
    if payment is None:
        raise NotFound(_("No such payment."), code="payment_not_found")
    return payment


async def buyers_open_payment(
    session: AsyncSession, buyer: User, order: Order, public_id: str
) -> Payment | None:
    """The buyer's payment of this order, if still open: another buyer's, or one of another
    order, is not looked at."""
    payment = await session.scalar(
        select(Payment).where(
            Payment.public_id == public_id,
            Payment.buyer_id == buyer.id,
            Payment.order_id == order.id,
        )
    )
    return payment if payment is not None and payment.status in OPEN_PAYMENTS else None


async def of_order(session: AsyncSession, order: Order) -> list[Payment]:
    return list(
        await session.scalars(
            select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
        )
    )


async def paid_payment(session: AsyncSession, order: Order) -> Payment | None:
    """The payment that paid the order; or, for an order its payment came too late for, the
    payment the buyer made (returned to them): what their receipt shows."""
    paying = await escrow.paying_payment(session, order.id)
    if paying is not None:
        return paying
    return await session.scalar(
        select(Payment)
        .where(
            Payment.order_id == order.id,
            Payment.stray.is_(True),
            Payment.status.in_([PaymentStatus.paid.value, PaymentStatus.refunded.value]),
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


async def refund_by_merchant(
    session: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    amount: int,
    reason: str,
    idempotency_key: str | None,
) -> Refund:
    orders.refuse_while_aftersales(await orders.lock(session, order.id))
    return await escrow.refund(
        session,
        settings,
        order.id,
        amount=amount,
        requested_by="merchant",
        reason=reason,
        idempotency_key=idempotency_key,
    )


@dataclass(frozen=True)
class OrderMoney:
    """An order's money as its shop sees it."""

    payment: Payment | None
    refunds: list[Refund]
    # What the shop may refund now (0 once the after-sales window closed).
    refundable: int
    # The platform's fee: charged at release (less what refunds handed back), or, before it,
    # what release would charge on the money held now.
    fee: int
    fee_charged: bool


async def order_money(session: AsyncSession, settings: Settings, order: Order) -> OrderMoney:
    settlement = await escrow.settlement_of(session, order.id)
    if settlement is not None:
        fee = settlement.fee - settlement.fee_returned
    else:
        held = await ledger.balance(session, escrow_of(order.id, order.shop_id), order.currency)
        fee = fee_of(held.amount, settings.platform_fee_bps)
    return OrderMoney(
        payment=await paid_payment(session, order),
        refunds=await refunds.of_order(session, order.id),
        refundable=await escrow.refundable(session, settings, order),
        fee=fee,
        fee_charged=settlement is not None,
    )
