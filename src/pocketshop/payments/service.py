"""Paying for orders: starting a payment with a provider, and acting once on what the provider
says (its notifications, or our queries), money into escrow through the ledger.

A provider's word is stored and acted on in one transaction (`receive`), or, when acting
fails, stored alone (`store_notice`) for a job to act on (`process_notice`, claimed by one
conditional UPDATE). The same notice arriving ten times at once is stored and acted on once.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.db import insert_new, table_of
from pocketshop.errors import Conflict, InvalidInput, NotFound, ProviderUnavailable
from pocketshop.i18n import _
from pocketshop.ledger import service as ledger
from pocketshop.money import Money
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderStatus
from pocketshop.payments import anomalies, refunds, sandbox, states
from pocketshop.payments.escrow import escrow_of
from pocketshop.payments.models import (
    Payment,
    ProviderNotice,
    Refund,
    new_public_id,
)
from pocketshop.payments.providers import (
    Channel,
    Notice,
    NoticeState,
    PayRequest,
    Prepay,
    Provider,
    ProviderError,
    Providers,
    label,
    provider_of,
)
from pocketshop.payments.states import PaymentStatus

SETTLED = (PaymentStatus.paid, PaymentStatus.refunded)


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
# With its order, read as it is now: capturing moves the order from what is read here.
_PAYMENT_BY_TRADE = (
    select(Payment, Order)
    .join(Order, Order.id == Payment.order_id)
    .where(
        Payment.provider == bindparam("provider"),
        Payment.out_trade_no == bindparam("out_trade_no"),
    )
    .execution_options(populate_existing=True)
)


@dataclass(frozen=True)
class Started:
    payment: Payment
    prepay: Prepay


async def start(
    session: AsyncSession,
    settings: Settings,
    providers: Providers,
    buyer: User,
    number: str,
    *,
    provider_name: str,
    channel: Channel,
    base_url: str,
    client_ip: str,
    openid: str = "",
) -> Started:
    """Open (or reopen) a payment of the buyer's unpaid order with a provider; the amount is
    the order's total, never the client's word."""
    provider = provider_of(providers, provider_name)
    if channel not in provider.channels:
        raise InvalidInput(_("This way of paying is not offered."), code="channel_not_offered")
    if channel is Channel.jsapi and not openid:
        raise InvalidInput(
            _("Paying inside WeChat needs the buyer's WeChat openid."),
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
                "query_after": next_query(settings),
            },
            actor="buyer",
        )
        if payment is None:  # two random ids taken: cannot be
            raise RuntimeError("a new payment clashed")
    base = base_url.rstrip("/")
    try:
        prepay = await provider.prepay(
            session,
            PayRequest(
                out_trade_no=payment.out_trade_no,
                description=_("Order %(number)s", number=order.number),
                amount=payment.amount,
                currency=payment.currency,
                channel=channel,
                notify_url=f"{base}/api/v1/payments/{provider.name}/notify",
                return_url=f"{base}/me/orders/{order.number}/return?payment={payment.public_id}",
                client_ip=client_ip,
                openid=openid,
            ),
        )
    except ProviderError as exc:
        raise unavailable(provider) from exc
    return Started(payment, prepay)


def unavailable(provider: Provider) -> ProviderUnavailable:
    return ProviderUnavailable(
        _(
            "%(provider)s did not answer. Please try again in a moment.",
            provider=label(provider.name),
        )
    )


def next_query(settings: Settings) -> datetime:
    """When reconciliation asks the provider about a payment still open."""
    return clock.now() + timedelta(minutes=settings.reconcile_after_minutes)


# --- what providers say -------------------------------------------------------------------------

_notices = table_of(ProviderNotice)
_NOTICE_ID = select(_notices.c.id).where(
    _notices.c.provider == bindparam("provider"), _notices.c.event_key == bindparam("event_key")
)
_CLAIM_NOTICE = (
    update(_notices)
    .where(_notices.c.id == bindparam("notice_id"), _notices.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"))
)
_NOTICE_DONE = (
    update(_notices)
    .where(_notices.c.id == bindparam("notice_id"))
    .values(processed_at=bindparam("at"), outcome=bindparam("outcome"))
)


async def receive(
    session: AsyncSession, providers: Providers, provider: str, notice: Notice, body: bytes
) -> str:
    """A verified notice: stored and acted on once, in one transaction. When acting fails,
    the caller rolls back and stores the notice alone (`store_notice`), for a job to act on.
    The outcome; "" when the notice came before and another worker has it."""
    notice_id, new = await store_notice(session, provider, notice, body)
    if not new:  # a retry: act on it only if nobody has yet
        return await process_notice(session, providers, notice_id)
    outcome = await apply(session, providers, provider, notice, notice_id=notice_id)
    await session.execute(
        _NOTICE_DONE, {"notice_id": notice_id, "at": clock.now(), "outcome": outcome}
    )
    return outcome


async def store_notice(
    session: AsyncSession, provider: str, notice: Notice, body: bytes
) -> tuple[int, bool]:
    """Keep a verified notice (once: the provider's retries are the same event); its id, and
    whether this call stored it."""
    event_key = notice.event_key[:96]
    notice_id: int | None = await session.scalar(
        insert_new(session, _notices),
        {
            "provider": provider,
            "event_key": event_key,
            "kind": notice.kind,
            "body": body.decode("utf-8", "replace"),
            "facts": notice.facts(),
            "received_at": clock.now(),
            "outcome": "",
        },
    )
    if notice_id is not None:
        return notice_id, True
    notice_id = await session.scalar(_NOTICE_ID, {"provider": provider, "event_key": event_key})
    if notice_id is None:
        raise RuntimeError("a notice that conflicted on insert is not there")
    return notice_id, False


async def process_notice(session: AsyncSession, providers: Providers, notice_id: int) -> str:
    """Act on a stored notice, once; the outcome ("" when another worker has it)."""
    claimed = await session.execute(_CLAIM_NOTICE, {"notice_id": notice_id, "at": clock.now()})
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return ""
    row = await session.get_one(ProviderNotice, notice_id)
    notice = Notice.from_facts(row.facts)
    outcome = await apply(session, providers, row.provider, notice, notice_id=notice_id)
    row.outcome = outcome
    return outcome


async def apply(
    session: AsyncSession,
    providers: Providers,
    provider_name: str,
    notice: Notice,
    *,
    notice_id: int | None = None,
) -> str:
    """What a provider said, done: a payment captured into escrow, failed or closed; a refund
    finished. What does not match our books is recorded for the operator, never acted on."""
    provider = provider_of(providers, provider_name)
    if notice.kind == "refund":
        return await refunds.apply_notice(session, provider, notice, notice_id=notice_id)
    found = (
        await session.execute(
            _PAYMENT_BY_TRADE, {"provider": provider.name, "out_trade_no": notice.out_trade_no}
        )
    ).first()
    if found is None:
        return await anomaly(session, provider.name, "unknown_payment", notice, notice_id)
    payment, order = found
    mismatch = _mismatch(provider, payment, notice)
    if mismatch:
        return await anomaly(session, provider.name, mismatch, notice, notice_id, payment)
    if notice.state is NoticeState.paid:
        await capture(session, payment, order, notice.transaction_id)
        return "paid"
    if notice.state in (NoticeState.failed, NoticeState.closed):
        to = PaymentStatus.failed if notice.state is NoticeState.failed else PaymentStatus.closed
        if payment.status == PaymentStatus.created:
            await states.move(session, payment, to, actor="provider", values={"query_after": None})
        return notice.state.value
    return "pending"


def _mismatch(provider: Provider, payment: Payment, notice: Notice) -> str:
    if notice.merchant != provider.merchant:
        return "merchant_mismatch"
    if notice.state is NoticeState.paid and (
        notice.amount != payment.amount or notice.currency != payment.currency
    ):
        return "amount_mismatch"
    return ""


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
        notice_id=notice_id,
        details={
            **notice.facts(),
            "expected_amount": payment.amount if payment else None,
            "expected_currency": payment.currency if payment else None,
        },
    )
    return kind


async def capture(
    session: AsyncSession, payment: Payment, order: Order, transaction_id: str
) -> None:
    """The money is at the provider: into the order's escrow, the order paid. Money for an
    order that no longer waits for it (closed meanwhile, or paid by another payment) goes
    back to the buyer at once. `order` is the payment's, as read in this transaction.

    The order is moved (and so locked) before the payment, as closing an order does (its
    row, then its payments'): the two paths never wait on each other in a circle."""
    marked = False
    if order.status == OrderStatus.pending_payment:
        try:
            await orders.mark_paid(session, order, reason=f"{payment.provider}:{transaction_id}")
            marked = True
        except Conflict:
            order = await orders.get(session, payment.order_id, fresh=True)  # closed meanwhile
    # Moved from the status last read; read again only when somebody moved it meanwhile.
    if payment.status in SETTLED or not await _captured(session, payment, transaction_id):
        await session.refresh(payment)
        if payment.status in SETTLED:
            if marked:  # cannot be: whoever captured it marked the order paid first
                raise RuntimeError(f"payment {payment.id} captured, its order was not paid")
            return
        if not await _captured(session, payment, transaction_id):
            raise RuntimeError(f"payment {payment.id} changed while its order was held")
    amount = Money(payment.amount, payment.currency)
    await ledger.post(
        session,
        kind="capture",
        reference=f"capture:{payment.id}",
        legs=[(ledger.clearing(payment.provider), -amount), (escrow_of(order), amount)],
        shop_id=order.shop_id,
        order_id=order.id,
    )
    if marked:
        return
    await refunds.request(
        session,
        order=order,
        payment=payment,
        amount=payment.amount,
        requested_by="system",
        reason="late_payment" if order.status == OrderStatus.closed else "paid_twice",
        closes_order=False,
    )


async def _captured(session: AsyncSession, payment: Payment, transaction_id: str) -> bool:
    return await states.move(
        session,
        payment,
        PaymentStatus.paid,
        actor="provider",
        values={"provider_txn_id": transaction_id, "paid_at": clock.now(), "query_after": None},
    )


async def refresh(session: AsyncSession, providers: Providers, payment: Payment) -> str:
    """Ask the provider how a payment stands and act on it (a buyer back from the pay page,
    or reconciliation of one still open)."""
    if payment.status != PaymentStatus.created:
        return payment.status  # settled already: nothing to ask
    provider = provider_of(providers, payment.provider)
    try:
        notice = await provider.query(session, payment.out_trade_no)
    except ProviderError as exc:
        raise unavailable(provider) from exc
    # The provider was waited on outside the transaction: a notice may have come meanwhile.
    await session.refresh(payment)
    if payment.status != PaymentStatus.created:
        return payment.status
    if notice is None:
        return "unknown"
    return await apply(session, providers, provider.name, notice)


async def get_for_buyer_or_404(session: AsyncSession, buyer: User, public_id: str) -> Payment:
    payment = await session.scalar(
        select(Payment).where(Payment.public_id == public_id, Payment.buyer_id == buyer.id)
    )
    if payment is None:
        raise NotFound(_("No such payment."), code="payment_not_found")
    return payment


async def of_order(session: AsyncSession, order: Order) -> list[Payment]:
    return list(
        await session.scalars(
            select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
        )
    )


async def paid_payment(session: AsyncSession, order: Order) -> Payment | None:
    """The payment that paid the order (a second one is refunded as it arrives)."""
    return await session.scalar(
        select(Payment)
        .where(
            Payment.order_id == order.id,
            Payment.status.in_([PaymentStatus.paid.value, PaymentStatus.refunded.value]),
        )
        .order_by(Payment.paid_at, Payment.id)
        .limit(1)
    )


async def close_open(session: AsyncSession, order: Order) -> list[Payment]:
    """An unpaid order closed: its open payments close too. The provider is told after commit
    (the outbox), so a payment arriving late is rare, and refunded when it does."""
    closed = []
    for payment in await session.scalars(
        select(Payment).where(
            Payment.order_id == order.id, Payment.status == PaymentStatus.created.value
        )
    ):
        if await states.move(
            session,
            payment,
            PaymentStatus.closed,
            actor="system",
            reason=order.close_reason or "",
            values={"closed_at": clock.now(), "query_after": None},
        ):
            closed.append(payment)
    return closed


def not_paid() -> Conflict:
    return Conflict(_("This order has not been paid."), code="not_paid")


async def refund_by_merchant(
    session: AsyncSession,
    order: Order,
    *,
    amount: int,
    reason: str,
    idempotency_key: str | None,
) -> Refund:
    payment = await paid_payment(session, order)
    if payment is None:
        raise not_paid()
    return await refunds.request(
        session,
        order=order,
        payment=payment,
        amount=amount,
        requested_by="merchant",
        reason=reason,
        idempotency_key=idempotency_key,
    )


async def refresh_for_buyer(
    session: AsyncSession, providers: Providers, buyer: User, order: Order, public_id: str
) -> None:
    """The buyer is back from the provider: how does their payment of this order stand?
    Another buyer's payment, or one of another order, is not looked at."""
    payment = await session.scalar(
        select(Payment).where(
            Payment.public_id == public_id,
            Payment.buyer_id == buyer.id,
            Payment.order_id == order.id,
        )
    )
    if payment is not None and payment.status == PaymentStatus.created:
        await refresh(session, providers, payment)


@dataclass(frozen=True)
class OrderMoney:
    """An order's money as its shop sees it."""

    payment: Payment | None
    refunds: list[Refund]
    # What the shop may still refund (0 once settled: after-sales then).
    refundable: int


async def order_money(session: AsyncSession, order: Order) -> OrderMoney:
    payment = await paid_payment(session, order)
    made = await refunds.of_order(session, order.id)
    left = 0
    if payment is not None:
        try:
            left, _source = await refunds.refundable(session, order, payment)
        except Conflict:
            left = 0  # settled
    return OrderMoney(payment=payment, refunds=made, refundable=max(left, 0))


async def pay_in_sandbox(
    session: AsyncSession, settings: Settings, providers: Providers, buyer: User, number: str
) -> Payment:
    """What a buyer does with the sandbox, in one go: open the payment, press Pay on its page,
    and have us ask how it went (the demo's paid orders, and tests')."""
    started = await start(
        session,
        settings,
        providers,
        buyer,
        number,
        provider_name=sandbox.NAME,
        channel=Channel.page,
        base_url=settings.public_base_url or "http://127.0.0.1",
        client_ip="127.0.0.1",
    )
    await sandbox.buyer_acts(session, started.payment.out_trade_no, pay=True)
    await refresh(session, providers, started.payment)
    return started.payment
