"""How a buyer's payment turned out, in words for the buyer's pages: paid (the success page),
failed or closed at the provider (the order page says so, and offers to pay again), refunded
(the order page and the receipt say how much, how it stands and when it arrives), and what of
the payment the platform still holds.

When a refund arrives is not something providers tell us per refund; it is their documented
rule (`ARRIVAL_DAYS`, in working days after the refund was sent):
- sandbox: at once (no real money);
- WeChat Pay: to the WeChat balance within minutes, to a bank card in 1–3 working days
  ("退款有一定延时，用零钱支付的退款20分钟内到账，银行卡支付的退款3个工作日后重新查询退款状态");
- Alipay: to the Alipay balance at once, to a bank card in 1–3 working days (a credit card
  can take longer; the bank decides).
So a refund on its way back is expected within that many working days of its request; a
refund sent is back on the balance, and on a bank card within that many working days.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.models import User
from pocketshop.i18n import N_, _
from pocketshop.orders.models import Order
from pocketshop.orders.service import OrderStatus
from pocketshop.payments import escrow, refunds
from pocketshop.payments import service as payments
from pocketshop.payments.models import Payment, Refund
from pocketshop.payments.states import OPEN_REFUNDS, PaymentStatus, RefundStatus

# Working days a refund takes to reach a bank card, by provider (see above).
ARRIVAL_DAYS = {"sandbox": 0, "wechatpay": 3, "alipay": 3}
DEFAULT_ARRIVAL_DAYS = 7

# Why a payment did not start or did not go through: a code in the order page's address
# (after a redirect), shown as a fixed message; an unknown code as the generic one.
PAY_PROBLEMS = {
    "payment_failed": N_(
        "Your payment did not go through, and nothing was charged. You can pay again."
    ),
    "payment_closed": N_(
        "The payment was closed before it was made, and nothing was charged. You can pay again."
    ),
    "payment_pending": N_(
        "Waiting for the payment service to confirm your payment. Reload this page in a moment."
    ),
    "provider_unavailable": N_(
        "The payment service did not answer, and nothing was charged. Please try again soon."
    ),
    "not_payable": N_("This order is not waiting for payment."),
    "too_late": N_("This order is about to close unpaid. Please order again."),
    "channel_not_offered": N_("This way of paying is not offered."),
    "provider_not_found": N_("This way of paying is not offered."),
    "request_paid": N_("This payment request has been paid."),
    "request_cancelled": N_("The shop cancelled this payment request."),
}
GENERIC_PROBLEM = N_("The payment could not start, and nothing was charged. Please try again.")
# Codes that are not a failure: said as a status, not an alert.
NOT_A_FAILURE = frozenset({"payment_pending"})


@dataclass(frozen=True)
class PayProblem:
    code: str
    message: str
    alert: bool


def pay_problem(code: str) -> PayProblem | None:
    """The message for a code from the order page's address; None for none."""
    if not code:
        return None
    known = code if code in PAY_PROBLEMS else "payment_not_started"
    text = PAY_PROBLEMS.get(known, GENERIC_PROBLEM)
    return PayProblem(known, _(text), known not in NOT_A_FAILURE)


async def last_problem(session: AsyncSession, order: Order, code: str = "") -> PayProblem | None:
    """What the order page says about paying: the problem its address names, else, for an
    order still waiting for payment whose latest payment failed or was closed at the
    provider, that one."""
    if code:
        return pay_problem(code)
    if order.status != OrderStatus.pending_payment:
        return None
    latest = await session.scalar(
        select(Payment.status)
        .where(Payment.order_id == order.id)
        .order_by(Payment.id.desc())
        .limit(1)
    )
    if latest == PaymentStatus.failed:
        return pay_problem("payment_failed")
    if latest == PaymentStatus.closed:
        return pay_problem("payment_closed")
    return None


async def buyers_payment(
    session: AsyncSession, buyer: User, order: Order, public_id: str
) -> Payment | None:
    """The buyer's payment of this order, however it stands (another buyer's, or one of
    another order, is not looked at)."""
    if not public_id:
        return None
    return await session.scalar(
        select(Payment).where(
            Payment.public_id == public_id,
            Payment.buyer_id == buyer.id,
            Payment.order_id == order.id,
        )
    )


def after_return(number: str, payment: Payment | None, order_paid: bool) -> str:
    """Where the buyer goes, back from the provider: the success page once the order is
    paid; the order page saying what went wrong, or that the provider has not confirmed yet."""
    if order_paid:
        return f"/me/orders/{number}/paid"
    if payment is None:
        return f"/me/orders/{number}"
    code = {
        PaymentStatus.failed.value: "payment_failed",
        PaymentStatus.closed.value: "payment_closed",
        PaymentStatus.created.value: "payment_pending",
    }.get(payment.status)
    return f"/me/orders/{number}?pay_problem={code}#pay-problem" if code else f"/me/orders/{number}"


# --- refunds -----------------------------------------------------------------------------


def working_days_after(moment: datetime, days: int) -> datetime:
    """`days` working days (Monday to Friday) after `moment`."""
    found = moment
    while days > 0:
        found += timedelta(days=1)
        if found.weekday() < 5:
            days -= 1
    return found


@dataclass(frozen=True)
class RefundView:
    refund: Refund
    sent: bool  # the provider paid it back
    failed: bool
    # On its way: expected by then; sent: on a bank card by then (None: at once).
    arrives_by: datetime | None


def refund_view(refund: Refund, provider: str) -> RefundView:
    days = ARRIVAL_DAYS.get(provider, DEFAULT_ARRIVAL_DAYS)
    sent = refund.status == RefundStatus.succeeded
    start = refund.finished_at if sent and refund.finished_at else refund.created_at
    return RefundView(
        refund=refund,
        sent=sent,
        failed=refund.status == RefundStatus.failed,
        arrives_by=working_days_after(start, days) if days else None,
    )


@dataclass(frozen=True)
class MoneyView:
    """What became of the buyer's payment of an order."""

    payment: Payment | None
    refunds: list[RefundView]
    refunded: int  # back, or on its way back
    held: int  # the platform holds it until receipt
    released: int  # the shop was paid it (receipt confirmed)

    @property
    def fully_refunded(self) -> bool:
        return self.payment is not None and self.refunded >= self.payment.amount

    @property
    def refunding(self) -> bool:
        return any(view.refund.status in OPEN_REFUNDS for view in self.refunds)


async def money_of(session: AsyncSession, order: Order) -> MoneyView:
    """The order's payment (the paying one, or a late one returned), its refunds, and what
    of it is held, released or refunded."""
    payment = await payments.paid_payment(session, order)
    if payment is None:
        return MoneyView(None, [], 0, 0, 0)
    made = await refunds.of_order(session, order.id)
    views = [refund_view(one, payment.provider) for one in made]
    refunded = sum(one.amount for one in made if one.status != RefundStatus.failed)
    kept = max(payment.amount - refunded, 0)
    released = kept if await escrow.settlement_of(session, order.id) is not None else 0
    held = 0 if payment.stray or order.status == OrderStatus.closed else kept - released
    return MoneyView(payment, views, min(refunded, payment.amount), held, released)
