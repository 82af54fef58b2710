"""Withdrawals: a shop's available money to its bound bank card.

Requested → paid, or failed (the money comes back to available). At most one is in flight per
shop (a partial unique index), the amount is taken from available money by the ledger's
guarded UPDATE (never below zero, however many ask at once), and the same Idempotency-Key
gives the same withdrawal. The payout itself happens after commit (the outbox).
"""

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, outbox
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.ledger import service as ledger
from pocketshop.ledger.service import Account, AccountKind
from pocketshop.money import Money
from pocketshop.payments import states
from pocketshop.payments.escrow import available_of
from pocketshop.payments.models import Withdrawal, new_public_id
from pocketshop.payments.states import WithdrawalStatus
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop

PAYOUT_TOPIC = "payments.payout"
AMOUNT_MAX = 10**10


def withdrawing_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_withdrawing, shop_id)


def paid_out_of(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_paid_out, shop_id)


@dataclass(frozen=True)
class PayoutResult:
    paid: bool
    reference: str = ""
    failure: str = ""


class Payouts(Protocol):
    """Sends money to a bank card; the same withdrawal id twice pays once."""

    async def pay(self, withdrawal: Withdrawal, card_number: str) -> PayoutResult: ...


class SandboxPayouts:
    """Pays at once, without a bank. An amount ending in 44 fen is refused by "the bank", so
    the failure path can be seen in the demo and tested."""

    async def pay(self, withdrawal: Withdrawal, card_number: str) -> PayoutResult:
        if withdrawal.amount % 100 == 44:
            return PayoutResult(paid=False, failure="sandbox bank refused the transfer")
        return PayoutResult(paid=True, reference=f"SBP{withdrawal.public_id[:16].upper()}")


def make_payouts(backend: str) -> Payouts:
    if backend == "sandbox":
        return SandboxPayouts()
    raise ValueError(f"unknown payout backend {backend!r}")


async def request(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    user: User,
    amount: int,
    *,
    idempotency_key: str | None = None,
) -> Withdrawal:
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
    try:
        await ledger.post(
            session,
            kind="withdraw",
            reference=f"withdraw:{withdrawal.id}",
            legs=[(available_of(shop.id), -money), (withdrawing_of(shop.id), money)],
            shop_id=shop.id,
        )
    except ledger.InsufficientFunds as exc:
        raise InvalidInput(
            _("You can withdraw at most what is available."),
            code="insufficient_funds",
            field="amount",
        ) from exc
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


async def finish(session: AsyncSession, withdrawal: Withdrawal, result: PayoutResult) -> bool:
    """The bank's answer: paid out, or back to available."""
    moved = await states.move(
        session,
        withdrawal,
        WithdrawalStatus.paid if result.paid else WithdrawalStatus.failed,
        actor="system",
        reason=result.failure,
        values={
            "finished_at": clock.now(),
            "payout_ref": result.reference or None,
            "failure": result.failure[:200],
        },
    )
    if not moved:
        return False
    money = Money(withdrawal.amount, withdrawal.currency)
    target = paid_out_of if result.paid else available_of
    await ledger.post(
        session,
        kind="payout" if result.paid else "payout_failed",
        reference=f"payout:{withdrawal.id}",
        legs=[(withdrawing_of(withdrawal.shop_id), -money), (target(withdrawal.shop_id), money)],
        shop_id=withdrawal.shop_id,
    )
    return True


async def pay_out(
    session: AsyncSession, settings: Settings, payouts: Payouts, withdrawal_id: int
) -> bool:
    """Send a requested withdrawal to the bank (the outbox calls this after commit)."""
    withdrawal = await session.get(Withdrawal, withdrawal_id)
    if withdrawal is None or withdrawal.status != WithdrawalStatus.requested:
        return False
    shop = await shops.get(session, withdrawal.shop_id)
    card = await shops.payout_card(session, shop)
    if card is None:
        return await finish(session, withdrawal, PayoutResult(paid=False, failure="no bank card"))
    number = settings.secrets.fernet.decrypt(card.number_encrypted.encode()).decode()
    return await finish(session, withdrawal, await payouts.pay(withdrawal, number))


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
