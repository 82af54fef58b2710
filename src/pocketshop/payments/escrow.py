"""Escrow released at receipt, settled T+1: an order's money leaves escrow for its shop's
pending balance (less the platform fee) when the buyer confirms receipt or receipt is
auto-confirmed, and becomes available the day after, in the shop's time zone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.errors import Conflict
from pocketshop.i18n import _
from pocketshop.jobs import due_ids
from pocketshop.ledger import service as ledger
from pocketshop.ledger.service import Account, AccountKind
from pocketshop.money import Money
from pocketshop.orders.models import Order
from pocketshop.payments.models import Settlement
from pocketshop.shops import service as shops

PENDING = "pending"
SETTLED = "settled"


def escrow_of(order: Order) -> Account:
    return Account.of_order(AccountKind.order_escrow, order.id, order.shop_id)


def pending_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_pending, shop_id)


def available_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_available, shop_id)


def fee_of(gross: int, bps: int) -> int:
    """The platform's fee in fen, rounded down: the shop is never charged a fraction."""
    return gross * bps // 10_000


def settle_at(released: datetime, timezone: str, days: int) -> datetime:
    """Midnight starting the `days`-th day after release, in the shop's time zone (T+1)."""
    zone = ZoneInfo(timezone)
    local_day = released.astimezone(zone).date() + timedelta(days=days)
    return datetime(local_day.year, local_day.month, local_day.day, tzinfo=zone).astimezone(
        released.tzinfo
    )


async def settlement_of(session: AsyncSession, order_id: int) -> Settlement | None:
    return await session.scalar(select(Settlement).where(Settlement.order_id == order_id))


async def release(session: AsyncSession, settings: Settings, order: Order) -> Settlement | None:
    """Receipt confirmed: what is in the order's escrow goes to its shop, pending, less the
    platform fee. Nothing in escrow (never paid through us, or refunded), nothing to do."""
    gross = await ledger.balance(session, escrow_of(order), order.currency)
    if gross.amount <= 0:
        return None
    fee = Money(fee_of(gross.amount, settings.platform_fee_bps), gross.currency)
    shop = await shops.get(session, order.shop_id)
    now = clock.now()
    settlement = Settlement(
        order_id=order.id,
        shop_id=order.shop_id,
        currency=gross.currency,
        gross=gross.amount,
        fee=fee.amount,
        refunded=0,
        fee_returned=0,
        status=PENDING,
        released_at=now,
        settle_at=settle_at(now, shop.timezone, settings.settlement_days),
    )
    session.add(settlement)
    await session.flush()
    legs = [(escrow_of(order), -gross), (pending_of(order.shop_id), gross - fee)]
    if fee.amount:
        legs.append((ledger.fees(), fee))
    await ledger.post(
        session,
        kind="release",
        reference=f"release:{order.id}",
        legs=legs,
        shop_id=order.shop_id,
        order_id=order.id,
    )
    return settlement


def refundable(settlement: Settlement) -> int:
    return settlement.gross - settlement.refunded


def fee_back(settlement: Settlement, amount: int) -> int:
    """The platform's share of a refund of pending money: its fee on what is refunded, so
    that refunds of the whole order hand the whole fee back, never a fen more."""
    after = settlement.fee * (settlement.refunded + amount) // settlement.gross
    return after - settlement.fee_returned


async def take_for_refund(session: AsyncSession, settlement: Settlement, amount: int) -> int:
    """Book a refund against an unsettled release; the fee handed back. Refused (409) once
    settled, or beyond what is left, by the same conditional UPDATE that books it."""
    returned = fee_back(settlement, amount)
    result = await session.execute(
        update(Settlement)
        .where(
            Settlement.id == settlement.id,
            Settlement.status == PENDING,
            Settlement.refunded == settlement.refunded,
            Settlement.gross - Settlement.refunded >= amount,
        )
        .values(
            refunded=Settlement.refunded + amount,
            fee_returned=Settlement.fee_returned + returned,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            _("This order's money was settled or changed meanwhile. Reload and try again."),
            code="settlement_changed",
        )
    await session.refresh(settlement)
    return returned


async def give_back(
    session: AsyncSession, settlement: Settlement, amount: int, returned: int
) -> bool:
    """A failed refund's money back into an unsettled release; False once it was settled
    (the caller then makes it available)."""
    result = await session.execute(
        update(Settlement)
        .where(Settlement.id == settlement.id, Settlement.status == PENDING)
        .values(
            refunded=Settlement.refunded - amount,
            fee_returned=Settlement.fee_returned - returned,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def settle(session: AsyncSession, settlement_id: int) -> bool:
    """A due release becomes available to its shop (a job step; once, whoever runs it)."""
    now = clock.now()
    result = await session.execute(
        update(Settlement)
        .where(
            Settlement.id == settlement_id,
            Settlement.status == PENDING,
            Settlement.settle_at <= now,
        )
        .values(status=SETTLED, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    settlement = await session.get_one(Settlement, settlement_id, populate_existing=True)
    net = Money(
        settlement.gross - settlement.fee - (settlement.refunded - settlement.fee_returned),
        settlement.currency,
    )
    if net.amount > 0:
        await ledger.post(
            session,
            kind="settle",
            reference=f"settle:{settlement.order_id}",
            legs=[(pending_of(settlement.shop_id), -net), (available_of(settlement.shop_id), net)],
            shop_id=settlement.shop_id,
            order_id=settlement.order_id,
        )
    return True


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await due_ids(
        session,
        Settlement.id,
        Settlement.status == PENDING,
        Settlement.settle_at <= now,
        order_by=Settlement.settle_at,
        limit=limit,
    )
