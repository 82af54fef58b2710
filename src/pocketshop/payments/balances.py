"""Where an order's and a shop's money sits in the ledger, the platform fee's arithmetic, and
the shop's money lock. The steps that move the money are in `escrow` (an order's) and
`withdrawals` (a shop's to its bank card)."""

from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.ledger import service as ledger
from pocketshop.ledger.service import Account, AccountKind
from pocketshop.money import Money
from pocketshop.payments.models import Refund
from pocketshop.shops import service as shops

Legs = list[tuple[Account, Money]]


class Source(StrEnum):
    """Where a refund's money came from."""

    escrow = "escrow"  # the order's escrow, before receipt
    pending = "pending"  # the shop's pending money, after receipt and before settlement
    available = "available"  # the shop's available money after settlement, or its debt
    returning = "return"  # a payment's own money: it paid no order


def escrow_of(order_id: int, shop_id: int) -> Account:
    return Account.of_order(AccountKind.order_escrow, order_id, shop_id)


def refunding_of(made: Refund) -> Account:
    """A refund on its way back: the order's, or a returned payment's own (not the shop's)."""
    if made.order_id is None or made.source == Source.returning:
        return Account(AccountKind.order_refunding, f"payment-{made.payment_id}")
    return Account.of_order(AccountKind.order_refunding, made.order_id, made.shop_id or 0)


def returning_of(payment_id: int) -> Account:
    """A payment that pays no order (late, twice, unknown): held apart, not the shop's money,
    until returned."""
    return Account(AccountKind.payment_return, str(payment_id))


def pending_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_pending, shop_id)


def available_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_available, shop_id)


def debt_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_debt, shop_id)


def withdrawing_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_withdrawing, shop_id)


def paid_out_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_paid_out, shop_id)


def fee_of(gross: int, bps: int) -> int:
    """The platform's fee in fen, rounded down: the shop is never charged a fraction."""
    return gross * bps // 10_000


def fee_back(fee: int, gross: int, refunded: int, fee_returned: int, amount: int) -> int:
    """The platform's share of a refund after release: its fee on what is refunded, so that
    refunds of the whole order hand the whole fee back, never a fen more."""
    return fee * (refunded + amount) // gross - fee_returned


def settle_at(released: datetime, timezone: str, days: int) -> datetime:
    """Midnight starting the `days`-th day after release, in the shop's time zone (T+1)."""
    zone = ZoneInfo(timezone)
    local_day = released.astimezone(zone).date() + timedelta(days=days)
    return datetime(local_day.year, local_day.month, local_day.day, tzinfo=zone).astimezone(
        released.tzinfo
    )


async def lock_shop(session: AsyncSession, shop_id: int) -> None:
    """The shop's money lock: its available money and its debt change only under it, so an
    amount read from them holds until commit. Taken after the order's lock, never before."""
    await shops.lock(session, shop_id)


async def owed(session: AsyncSession, shop_id: int, currency: str) -> int:
    """What the shop owes (refunds its available money could not cover), 0 or more."""
    return -(await ledger.balance(session, debt_of(shop_id), currency)).amount


async def to_shop(session: AsyncSession, shop_id: int, money: Money) -> tuple[Legs, int]:
    """Legs that give `money` to the shop as available money, paying its debt first; and how
    much of the debt it paid. Under the shop's money lock."""
    paying = min(money.amount, await owed(session, shop_id, money.currency))
    legs: Legs = []
    if paying:
        legs.append((debt_of(shop_id), Money(paying, money.currency)))
    if money.amount > paying:
        legs.append((available_of(shop_id), money - Money(paying, money.currency)))
    return legs, paying


async def from_shop(session: AsyncSession, shop_id: int, money: Money) -> tuple[Legs, int]:
    """Legs that take `money` from the shop's available money, what it lacks becoming its
    debt; and how much went into debt. Under the shop's money lock."""
    held = (await ledger.balance(session, available_of(shop_id), money.currency)).amount
    taking = min(money.amount, max(held, 0))
    legs: Legs = []
    if taking:
        legs.append((available_of(shop_id), -Money(taking, money.currency)))
    if money.amount > taking:
        legs.append((debt_of(shop_id), -Money(money.amount - taking, money.currency)))
    return legs, money.amount - taking
