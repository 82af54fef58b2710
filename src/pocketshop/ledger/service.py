"""The ledger: the only writer of balances. Every movement of money is one transaction whose
postings sum to zero per currency; it is posted once per business event (its reference), and
an account that must not go negative is locked and checked before anything of it is written.

Accounts (balance = sum of postings; positive is money held there):
- provider_clearing/<provider>: money at the payment provider. Goes negative as buyers pay.
- order_escrow/<order>: a paid order's money until receipt is confirmed.
- payment_return/<payment>: a payment that pays no order (late, twice, unknown), on its way
  back to the buyer: returned from its own money, never from a shop's.
- order_refunding/<order>: refunds sent to the provider, not yet confirmed (a returned
  payment's refund is its order's, or, for a payment of no order we know, the payment's).
- merchant_pending/<shop>: released to the shop, waiting for settlement (T+1).
- merchant_available/<shop>: the shop may withdraw it.
- merchant_debt/<shop>: never above zero; below it, what the shop owes: refunds after
  settlement that its available money could not cover. Money reaching the shop pays it first.
- merchant_withdrawing/<shop>: a withdrawal on its way to the bank card.
- merchant_paid_out/<shop>: what reached the shop's bank card, in all.
- platform_fees/platform: the platform's fee on released orders.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.db import DATABASE_KEY, Database, for_update, insert_new, insert_new_with, table_of
from pocketshop.errors import Conflict
from pocketshop.i18n import _
from pocketshop.ledger.models import LedgerAccount, LedgerPosting, LedgerTransaction
from pocketshop.money import Money


class AccountKind(StrEnum):
    provider_clearing = "provider_clearing"
    order_escrow = "order_escrow"
    payment_return = "payment_return"
    order_refunding = "order_refunding"
    merchant_pending = "merchant_pending"
    merchant_available = "merchant_available"
    merchant_debt = "merchant_debt"
    merchant_withdrawing = "merchant_withdrawing"
    merchant_paid_out = "merchant_paid_out"
    platform_fees = "platform_fees"


# Never below zero (and so always cached).
GUARDED = frozenset(
    {
        AccountKind.order_escrow,
        AccountKind.payment_return,
        AccountKind.order_refunding,
        AccountKind.merchant_pending,
        AccountKind.merchant_available,
        AccountKind.merchant_withdrawing,
    }
)
# Platform-wide: touched by every payment, so no cached balance to queue on.
UNCACHED = frozenset({AccountKind.provider_clearing, AccountKind.platform_fees})
PLATFORM = "platform"
# An order's (or payment's) accounts are made at its first money: tried as new first.
PER_ORDER = frozenset(
    {AccountKind.order_escrow, AccountKind.payment_return, AccountKind.order_refunding}
)
KNOWN_IDS = "ledger_account_ids"
CREATED_KEY = "ledger_accounts_created"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


@dataclass(frozen=True)
class Account:
    """Names an account; it is created the first time money moves into it."""

    kind: AccountKind
    owner: str
    shop_id: int | None = None

    @classmethod
    def of_order(cls, kind: AccountKind, order_id: int, shop_id: int) -> "Account":
        return cls(kind, str(order_id), shop_id)

    @classmethod
    def of_shop(cls, kind: AccountKind, shop_id: int) -> "Account":
        return cls(kind, str(shop_id), shop_id)


def clearing(provider: str) -> Account:
    return Account(AccountKind.provider_clearing, provider)


def fees() -> Account:
    return Account(AccountKind.platform_fees, PLATFORM)


_accounts = table_of(LedgerAccount)
_transactions = table_of(LedgerTransaction)
_postings = table_of(LedgerPosting)
_FIND_ACCOUNT = select(_accounts.c.id).where(
    _accounts.c.kind == bindparam("kind"),
    _accounts.c.owner == bindparam("owner"),
    _accounts.c.currency == bindparam("currency"),
)
_GUARDED_BALANCES = (
    select(_accounts.c.id, _accounts.c.balance)
    .where(_accounts.c.id.in_(bindparam("account_ids", expanding=True)))
    .order_by(_accounts.c.id)
)
_MOVE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(balance=_accounts.c.balance + bindparam("amount"))
)
_POSTED = select(_transactions.c.id).where(_transactions.c.reference == bindparam("reference"))


async def post(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    legs: Sequence[tuple[Account, Money]],
    shop_id: int | None = None,
    order_id: int | None = None,
    memo: str = "",
) -> bool:
    """Post one transaction; False (and nothing changed) when `reference` was posted before.

    Raises InsufficientFunds, having written nothing, when a guarded account would go
    negative: the balances this transaction takes from are locked and checked first (in id
    order, so two transactions never wait on each other in a circle), then the transaction,
    its postings and the balance moves are written."""
    _check_balanced(legs)
    # What each account with a cached balance gains or gives.
    gains: dict[tuple[Account, str], int] = defaultdict(int)
    for account, money in legs:
        if account.kind not in UNCACHED:  # no balance to keep, and no row lock to queue on
            gains[account, money.currency] += money.amount
    refusable = any(
        account.kind in GUARDED and amount < 0 for (account, _currency), amount in gains.items()
    )
    # When nothing can refuse the posting, an account it opens starts with its gain (no
    # UPDATE after the INSERT); otherwise at zero, so a refusal leaves no balance behind.
    ids, opened = await _account_ids(
        session, [(account, money.currency) for account, money in legs], {} if refusable else gains
    )
    moves: dict[int, int] = defaultdict(int)
    taking: set[int] = set()
    for (account, currency), amount in gains.items():
        account_id = ids[account, currency]
        moves[account_id] += amount - opened.get(account_id, 0)
        if account.kind in GUARDED and amount < 0:
            taking.add(account_id)
    if taking and not await _covered(session, taking, moves):
        if await session.scalar(_POSTED, {"reference": reference}) is not None:
            return False  # posted before: nothing to refuse
        raise InsufficientFunds(_("Not enough money for this."))
    now = clock.now()
    transaction_id = await insert_new_with(
        session,
        _transactions,
        {
            "kind": kind,
            "reference": reference,
            "shop_id": shop_id,
            "order_id": order_id,
            "memo": memo,
            "created_at": now,
        },
        [
            (
                _postings,
                [
                    {
                        "account_id": ids[account, money.currency],
                        "amount": money.amount,
                        "currency": money.currency,
                        "created_at": now,
                    }
                    for account, money in legs
                ],
            )
        ],
        link="transaction_id",
    )
    if transaction_id is None:
        if opened:  # the first posting of a reference opens its accounts: cannot be
            raise RuntimeError(f"{reference} was posted before, yet opened an account")
        return False
    changed = [
        {"account_id": account_id, "amount": amount}
        for account_id, amount in sorted(moves.items())
        if amount
    ]
    if changed:
        await session.execute(_MOVE, changed)
    return True


async def _covered(session: AsyncSession, taking: set[int], moves: dict[int, int]) -> bool:
    """Whether every balance in `taking` can give what `moves` takes from it; the rows stay
    locked until the transaction ends, so nobody takes the same money meanwhile."""
    rows = await session.execute(
        for_update(session, _GUARDED_BALANCES), {"account_ids": sorted(taking)}
    )
    return all(int(balance) + moves[account_id] >= 0 for account_id, balance in rows)


def _check_balanced(legs: Sequence[tuple[Account, Money]]) -> None:
    if not legs:
        raise ValueError("a transaction needs postings")
    sums: dict[str, int] = defaultdict(int)
    for _account, money in legs:
        if money.amount == 0:
            raise ValueError("a posting of zero")
        sums[money.currency] += money.amount
    unbalanced = {currency: total for currency, total in sums.items() if total}
    if unbalanced:
        raise ValueError(f"postings do not sum to zero: {unbalanced}")


async def _account_ids(
    session: AsyncSession,
    wanted: Sequence[tuple[Account, str]],
    gains: Mapping[tuple[Account, str], int],
) -> tuple[dict[tuple[Account, str], int], dict[int, int]]:
    """The accounts' ids, creating the missing ones (a parallel creator is not an error); and
    the balances the ones created start with, by id: their `gains` when positive."""
    known = _known_ids(session)
    ids = {}
    opened = {}
    for account, currency in dict.fromkeys(wanted):
        key = (account.kind, account.owner, currency)
        account_id = known.get(key)
        if account_id is None:
            opening = max(gains.get((account, currency), 0), 0)
            account_id, made = await _find_or_create(session, account, currency, known, opening)
            if made and opening:
                opened[account_id] = opening
        ids[account, currency] = account_id
    return ids, opened


async def _find_or_create(
    session: AsyncSession,
    account: Account,
    currency: str,
    known: dict[tuple[str, str, str], int],
    opening: int,
) -> tuple[int, bool]:
    """The account's id, and whether this call created it (with `opening` as its balance)."""
    key = {"kind": account.kind.value, "owner": account.owner, "currency": currency}
    found: int | None
    if account.kind not in PER_ORDER:
        found = await session.scalar(_FIND_ACCOUNT, key)
        if found is not None:
            if (account.kind, account.owner, currency) not in _created(session):
                # Committed by an earlier transaction (this one did not make it): for good.
                known[account.kind, account.owner, currency] = int(found)
            return int(found), False
    made: int | None = await session.scalar(
        insert_new(session, _accounts),
        {
            **key,
            "shop_id": account.shop_id,
            "guarded": account.kind in GUARDED,
            "balance": None if account.kind in UNCACHED else opening,
            "created_at": clock.now(),
        },
    )
    if made is not None:
        _created(session).add((account.kind, account.owner, currency))
        return made, True
    found = await session.scalar(_FIND_ACCOUNT, key)  # made meanwhile by another transaction
    if found is None:
        raise RuntimeError(f"ledger account {key} conflicted on insert and is not there")
    return int(found), False


def _known_ids(session: AsyncSession) -> dict[tuple[str, str, str], int]:
    """Ids of accounts committed before, kept by the database for the process: an account is
    never deleted nor renamed, so a committed id stays right."""
    database: Database = session.info[DATABASE_KEY]
    known: dict[tuple[str, str, str], int] = database.lasting.setdefault(KNOWN_IDS, {})
    return known


def _created(session: AsyncSession) -> set[tuple[str, str, str]]:
    """Accounts this transaction made: not committed yet, so not kept."""
    made: set[tuple[str, str, str]] = session.info.setdefault(CREATED_KEY, set())
    return made


# --- reading balances ---------------------------------------------------------------------------


async def balance(session: AsyncSession, account: Account, currency: str = "CNY") -> Money:
    """An account's balance: its cached one, or the sum of its postings."""
    row = (
        await session.execute(
            select(_accounts.c.id, _accounts.c.balance).where(
                _accounts.c.kind == account.kind.value,
                _accounts.c.owner == account.owner,
                _accounts.c.currency == currency,
            )
        )
    ).first()
    if row is None:
        return Money.zero(currency)
    if row.balance is not None:
        return Money(int(row.balance), currency)
    total = await session.scalar(
        select(func.coalesce(func.sum(_postings.c.amount), 0)).where(
            _postings.c.account_id == row.id
        )
    )
    return Money(int(total or 0), currency)


async def shop_balances(
    session: AsyncSession, shop_id: int, currency: str = "CNY"
) -> dict[AccountKind, Money]:
    """A shop's money by kind of account, its orders' escrow and refunds summed."""
    rows = await session.execute(
        select(_accounts.c.kind, func.coalesce(func.sum(_accounts.c.balance), 0))
        .where(_accounts.c.shop_id == shop_id, _accounts.c.currency == currency)
        .group_by(_accounts.c.kind)
    )
    found = {AccountKind(kind): Money(int(total), currency) for kind, total in rows}
    return {
        kind: found.get(kind, Money.zero(currency)) for kind in AccountKind if kind not in UNCACHED
    }


# --- checking the invariants --------------------------------------------------------------------


async def check(session: AsyncSession) -> list[str]:
    """Every invariant of the ledger; what is wrong, or nothing."""
    problems: list[str] = []
    unbalanced = await session.execute(
        select(_postings.c.transaction_id, _postings.c.currency, func.sum(_postings.c.amount))
        .group_by(_postings.c.transaction_id, _postings.c.currency)
        .having(func.sum(_postings.c.amount) != 0)
    )
    problems += [
        f"transaction {txn} does not sum to zero in {currency}: {total}"
        for txn, currency, total in unbalanced
    ]
    empty = await session.scalars(
        select(_transactions.c.id).where(
            ~select(_postings.c.id).where(_postings.c.transaction_id == _transactions.c.id).exists()
        )
    )
    problems += [f"transaction {txn} has no postings" for txn in empty]
    sums = (
        select(_postings.c.account_id, func.sum(_postings.c.amount).label("total"))
        .group_by(_postings.c.account_id)
        .subquery()
    )
    drifted = await session.execute(
        select(
            _accounts.c.id, _accounts.c.kind, _accounts.c.owner, _accounts.c.balance, sums.c.total
        )
        .outerjoin(sums, sums.c.account_id == _accounts.c.id)
        .where(
            _accounts.c.balance.is_not(None),
            _accounts.c.balance != func.coalesce(sums.c.total, 0),
        )
    )
    problems += [
        f"account {account_id} ({kind}/{owner}) caches {cached}, its postings sum to {total or 0}"
        for account_id, kind, owner, cached, total in drifted
    ]
    negative = await session.execute(
        select(_accounts.c.id, _accounts.c.kind, _accounts.c.owner, sums.c.total)
        .join(sums, sums.c.account_id == _accounts.c.id)
        .where(_accounts.c.guarded.is_(True), sums.c.total < 0)
    )
    problems += [
        f"guarded account {account_id} ({kind}/{owner}) is negative: {total}"
        for account_id, kind, owner, total in negative
    ]
    mixed = await session.execute(
        select(_postings.c.id, _postings.c.currency, _accounts.c.currency)
        .join(_accounts, _accounts.c.id == _postings.c.account_id)
        .where(_postings.c.currency != _accounts.c.currency)
    )
    problems += [
        f"posting {posting} in {posted} on an account in {held}" for posting, posted, held in mixed
    ]
    return problems


# --- a shop's statement ---------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One posting on one of a shop's accounts, with its transaction's kind."""

    at: datetime
    kind: str
    account: AccountKind
    amount: Money
    order_id: int | None


async def shop_statement(
    session: AsyncSession, shop_id: int, *, page: int = 1, per_page: int = 30
) -> tuple[list[Line], bool]:
    """The postings on a shop's accounts (its orders' escrow included), newest first; and
    whether there is a next page."""
    rows = await session.execute(
        select(
            _postings.c.created_at,
            _transactions.c.kind,
            _accounts.c.kind.label("account_kind"),
            _postings.c.amount,
            _postings.c.currency,
            _transactions.c.order_id,
        )
        .join(_accounts, _accounts.c.id == _postings.c.account_id)
        .join(_transactions, _transactions.c.id == _postings.c.transaction_id)
        .where(_accounts.c.shop_id == shop_id)
        .order_by(_postings.c.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    lines = [
        Line(
            at=row.created_at,
            kind=row.kind,
            account=AccountKind(row.account_kind),
            amount=Money(int(row.amount), row.currency),
            order_id=row.order_id,
        )
        for row in rows
    ]
    return lines[:per_page], len(lines) > per_page


async def sizes(session: AsyncSession) -> dict[str, int]:
    """How much the ledger holds, for reports."""
    counts = {}
    for name, table in (
        ("accounts", _accounts),
        ("transactions", _transactions),
        ("postings", _postings),
    ):
        counts[name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts
