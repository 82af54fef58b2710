"""Withdrawals: a shop's available money to its bound bank card.

Requested → paid, or failed (the money comes back to the shop, paying its debt first); an
unclear answer from the bank leaves it `unknown` until a query says how it went. At most one
is in flight per shop (a partial unique index), the amount is taken from available money
under the shop's money lock and the ledger's guard (never below zero, however many ask at
once), none while the shop owes money, and the same Idempotency-Key gives the same
withdrawal. The payout itself happens after commit, outside any transaction
(payments.calls), and is driven to a final state by a sweep.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, db, outbox
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.ledger import service as ledger
from pocketshop.money import Money
from pocketshop.notifications import service as notifications
from pocketshop.notifications.events import Event
from pocketshop.payments import anomalies, retries, states
from pocketshop.payments.balances import (
    available_of,
    lock_shop,
    owed,
    paid_out_of,
    to_shop,
    withdrawing_of,
)
from pocketshop.payments.models import Withdrawal, new_public_id
from pocketshop.payments.states import OPEN_WITHDRAWALS, WithdrawalStatus
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop

PAYOUT_TOPIC = "payments.payout"
AMOUNT_MAX = 10**10


class PayoutState(StrEnum):
    paid = "paid"
    failed = "failed"  # final: the money comes back
    processing = "processing"  # taken by the bank; its outcome comes later
    not_found = "not_found"  # the bank knows no such transfer
    unknown = "unknown"  # no clear answer: ask again later


@dataclass(frozen=True)
class PayoutResult:
    state: PayoutState
    reference: str = ""
    failure: str = ""


class PayoutError(Exception):
    """The bank could not be reached, or answered unclearly."""


class Payouts(Protocol):
    """Sends money to a bank card; the same withdrawal id twice pays once."""

    async def pay(self, withdrawal: Withdrawal, card_number: str) -> PayoutResult: ...

    async def query(self, withdrawal: Withdrawal) -> PayoutResult: ...


class SandboxPayouts:
    """Pays at once, without a bank (so it is refused in production). An amount ending in
    44 fen is refused by "the bank", so the failure path can be seen in the demo and tested.
    It keeps no books: what it would answer follows from the withdrawal."""

    async def pay(self, withdrawal: Withdrawal, card_number: str) -> PayoutResult:
        db.outside_transaction("a payout")
        return self._answer(withdrawal)

    async def query(self, withdrawal: Withdrawal) -> PayoutResult:
        db.outside_transaction("a payout query")
        return self._answer(withdrawal)

    def _answer(self, withdrawal: Withdrawal) -> PayoutResult:
        if withdrawal.amount % 100 == 44:
            return PayoutResult(PayoutState.failed, failure="sandbox bank refused the transfer")
        return PayoutResult(PayoutState.paid, reference=f"SBP{withdrawal.public_id[:16].upper()}")


class ManualPayouts:
    """An operator pays withdrawals from the platform's bank account by hand and records
    each (`pocketshop payouts paid|failed`); until then a withdrawal is on its way, and past
    the retry cap it shows among the anomalies, a reminder."""

    async def pay(self, withdrawal: Withdrawal, card_number: str) -> PayoutResult:
        return PayoutResult(PayoutState.processing)

    async def query(self, withdrawal: Withdrawal) -> PayoutResult:
        return PayoutResult(PayoutState.processing)


def make_payouts(backend: str) -> Payouts:
    if backend == "sandbox":
        return SandboxPayouts()
    if backend == "manual":
        return ManualPayouts()
    raise ValueError(f"unknown payout backend {backend!r}")


async def record_by_operator(
    session: AsyncSession, public_id: str, *, paid: bool, reference: str = "", why: str = ""
) -> Withdrawal:
    """An operator's word on a withdrawal paid by hand: paid (with the bank's reference), or
    failed (the money back to the shop). 404 when there is none; 409 when it is finished."""
    withdrawal = await session.scalar(select(Withdrawal).where(Withdrawal.public_id == public_id))
    if withdrawal is None:
        raise NotFound(_("No such withdrawal."), code="withdrawal_not_found")
    result = (
        PayoutResult(PayoutState.paid, reference=reference)
        if paid
        else PayoutResult(PayoutState.failed, failure=why or "refused by the bank")
    )
    if not await record(session, withdrawal.id, result):
        raise Conflict(_("This withdrawal is finished already."), code="withdrawal_finished")
    return withdrawal


async def in_flight(session: AsyncSession, *, limit: int = 100) -> list[Withdrawal]:
    """Withdrawals not final yet, oldest first: what an operator paying by hand works on."""
    return list(
        await session.scalars(
            select(Withdrawal)
            .where(Withdrawal.status.in_([status.value for status in OPEN_WITHDRAWALS]))
            .order_by(Withdrawal.id)
            .limit(limit)
        )
    )


async def request(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    user: User,
    amount: int,
    *,
    idempotency_key: str | None = None,
) -> Withdrawal:
    # Under the shop's money lock: a parallel request with the same key is seen, and what is
    # available and owed holds until commit.
    await lock_shop(session, shop.id)
    if idempotency_key is not None:
        existing = await _by_key(session, shop, idempotency_key)
        if existing is not None:
            return _same(existing, amount)
    if type(amount) is not int or not settings.withdrawal_min_fen <= amount <= AMOUNT_MAX:
        raise InvalidInput(
            _(
                "A withdrawal must be at least %(min)s.",
                min=Money(settings.withdrawal_min_fen).format(),
            ),
            code="invalid_amount",
            field="amount",
        )
    card = await shops.payout_card(session, shop)
    if card is None:
        raise Conflict(_("Bind a bank card first."), code="no_bank_card")
    owing = await owed(session, shop.id, "CNY")
    if owing:
        raise Conflict(
            _(
                "Your shop owes %(amount)s for refunds after settlement; withdrawals resume "
                "once later sales have paid it.",
                amount=Money(owing).format(),
            ),
            code="shop_in_debt",
        )
    available = await ledger.balance(session, available_of(shop.id))
    if amount > available.amount:
        # What is available changes as money moves: a conflict, not a malformed amount.
        raise Conflict(
            _("You can withdraw at most what is available."),
            code="insufficient_funds",
            field="amount",
        )
    withdrawal = await states.create(
        session,
        Withdrawal,
        {
            "public_id": new_public_id(),
            "shop_id": shop.id,
            "amount": amount,
            "currency": "CNY",
            "status": WithdrawalStatus.requested.value,
            "bank_code": card.bank_code,
            "card_last4": card.last4,
            "holder_name": card.holder_name,
            "idempotency_key": idempotency_key,
            "requested_by": user.id,
            "created_at": clock.now(),
            "query_after": clock.now() + retries.FIRST,
            "attempts": 0,
        },
        actor="merchant",
    )
    if withdrawal is None:
        # A clash: the same key a moment ago, or another withdrawal still in flight.
        if idempotency_key is not None:
            existing = await _by_key(session, shop, idempotency_key)
            if existing is not None:
                return _same(existing, amount)
        raise Conflict(
            _("A withdrawal is already on its way; wait until it arrives."),
            code="withdrawal_in_flight",
        )
    money = Money(amount, withdrawal.currency)
    await ledger.post(
        session,
        kind="withdraw",
        reference=f"withdraw:{withdrawal.id}",
        legs=[(available_of(shop.id), -money), (withdrawing_of(shop.id), money)],
        shop_id=shop.id,
    )
    outbox.enqueue(session, PAYOUT_TOPIC, {"withdrawal_id": withdrawal.id})
    return withdrawal


async def _by_key(session: AsyncSession, shop: Shop, key: str) -> Withdrawal | None:
    return await session.scalar(
        select(Withdrawal).where(Withdrawal.shop_id == shop.id, Withdrawal.idempotency_key == key)
    )


def _same(existing: Withdrawal, amount: int) -> Withdrawal:
    if existing.amount != amount:
        raise InvalidInput(
            _("This Idempotency-Key was used for a different withdrawal."),
            code="idempotency_key_reused",
        )
    return existing


async def record(session: AsyncSession, withdrawal_id: int, result: PayoutResult) -> bool:
    """Act on the bank's answer: paid out, or back to the shop (paying its debt first); an
    unclear answer is asked about again later. True when the withdrawal is final now."""
    withdrawal = await session.get_one(Withdrawal, withdrawal_id)
    await lock_shop(session, withdrawal.shop_id)
    await session.refresh(withdrawal)
    if withdrawal.status not in OPEN_WITHDRAWALS:
        return False
    if result.state not in (PayoutState.paid, PayoutState.failed):
        if withdrawal.status == WithdrawalStatus.requested and result.state is not (
            PayoutState.processing
        ):
            await states.move(
                session, withdrawal, WithdrawalStatus.unknown, actor="system", reason=result.failure
            )
        if retries.tried(withdrawal):
            await anomalies.record(
                session,
                provider="payout",
                kind="payout_overdue",
                shop_id=withdrawal.shop_id,
                details={
                    "withdrawal": withdrawal.public_id,
                    "amount": withdrawal.amount,
                    "answer": result.state.value,
                    "why": result.failure,
                },
            )
        return False
    paid = result.state is PayoutState.paid
    await states.move(
        session,
        withdrawal,
        WithdrawalStatus.paid if paid else WithdrawalStatus.failed,
        actor="system",
        reason=result.failure,
        values={
            "finished_at": clock.now(),
            "payout_ref": result.reference or None,
            "failure": result.failure[:200],
            "query_after": None,
        },
    )
    money = Money(withdrawal.amount, withdrawal.currency)
    if paid:
        legs = [(paid_out_of(withdrawal.shop_id), money)]
    else:
        legs, _paying = await to_shop(session, withdrawal.shop_id, money)
    await ledger.post(
        session,
        kind="payout" if paid else "payout_failed",
        reference=f"payout:{withdrawal.id}",
        legs=[(withdrawing_of(withdrawal.shop_id), -money), *legs],
        shop_id=withdrawal.shop_id,
    )
    notifications.notify(
        session,
        Event.withdrawal_paid if paid else Event.withdrawal_failed,
        withdrawal.public_id,
        {"amount": withdrawal.amount, "currency": withdrawal.currency, "why": result.failure},
        shop_id=withdrawal.shop_id,
    )
    return True


async def card_number(session: AsyncSession, settings: Settings, withdrawal: Withdrawal) -> str:
    """The full number of the card the withdrawal goes to ("" when the shop has none now)."""
    shop = await shops.get(session, withdrawal.shop_id)
    card = await shops.payout_card(session, shop)
    if card is None:
        return ""
    return settings.secrets.fernet.decrypt(card.number_encrypted.encode()).decode()


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Withdrawals not final whose next try is due."""
    return list(
        await session.scalars(
            select(Withdrawal.id)
            .where(
                Withdrawal.status.in_([status.value for status in OPEN_WITHDRAWALS]),
                Withdrawal.query_after <= now,
            )
            .order_by(Withdrawal.query_after)
            .limit(limit)
        )
    )


async def of_shop(session: AsyncSession, shop: Shop, *, limit: int = 50) -> list[Withdrawal]:
    return list(
        await session.scalars(
            select(Withdrawal)
            .where(Withdrawal.shop_id == shop.id)
            .order_by(Withdrawal.id.desc())
            .limit(limit)
        )
    )


async def get_for_shop_or_404(session: AsyncSession, shop: Shop, public_id: str) -> Withdrawal:
    withdrawal = await session.scalar(
        select(Withdrawal).where(Withdrawal.shop_id == shop.id, Withdrawal.public_id == public_id)
    )
    if withdrawal is None:
        raise NotFound(_("No such withdrawal."), code="withdrawal_not_found")
    return withdrawal
