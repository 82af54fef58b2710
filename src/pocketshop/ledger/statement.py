"""A shop's money as business events, for the merchant: one entry per ledger transaction that
touched the shop's accounts, with what it did to the shop's own money and the balance after it.

The shop's own money is what the platform holds for it: its orders' escrow, its pending and
available money, less what it owes. Money on its way to the bank card, already paid out, or
going back to buyers is no longer the shop's: a withdrawal takes from the balance when asked
for, and a refund when sent.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.db import table_of
from pocketshop.ledger.models import LedgerAccount, LedgerPosting, LedgerTransaction
from pocketshop.ledger.service import AccountKind
from pocketshop.money import Money

OWN = frozenset(
    {
        AccountKind.order_escrow,
        AccountKind.merchant_pending,
        AccountKind.merchant_available,
        AccountKind.merchant_debt,
    }
)

_accounts = table_of(LedgerAccount)
_transactions = table_of(LedgerTransaction)
_postings = table_of(LedgerPosting)


@dataclass(frozen=True)
class Entry:
    """One business event on a shop's money."""

    at: datetime
    kind: str
    order_id: int | None
    change: Money  # to the shop's own money
    fee: Money  # the platform's fee it charged (negative: gave back)
    moved: Money  # what left the account it was in, of the shop's accounts
    balance_after: Money  # the shop's own money after it


async def shop_entries(
    session: AsyncSession, shop_id: int, *, currency: str = "CNY", page: int = 1, per_page: int = 30
) -> tuple[list[Entry], bool]:
    """A shop's business events, newest first; and whether there is a next page."""
    shop_accounts = select(_accounts.c.id).where(
        _accounts.c.shop_id == shop_id, _accounts.c.currency == currency
    )
    ids = list(
        await session.scalars(
            select(_postings.c.transaction_id)
            .where(_postings.c.account_id.in_(shop_accounts))
            .group_by(_postings.c.transaction_id)
            .order_by(_postings.c.transaction_id.desc())
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    )
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    if not ids:
        return [], has_next
    rows = await session.execute(
        select(
            _postings.c.transaction_id,
            _postings.c.amount,
            _accounts.c.kind.label("account_kind"),
            _accounts.c.shop_id,
            _transactions.c.kind,
            _transactions.c.order_id,
            _transactions.c.created_at,
        )
        .join(_accounts, _accounts.c.id == _postings.c.account_id)
        .join(_transactions, _transactions.c.id == _postings.c.transaction_id)
        .where(_postings.c.transaction_id.in_(ids), _postings.c.currency == currency)
    )
    postings: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        postings[row.transaction_id].append(row)
    balance = await _own_balance_after(session, shop_id, currency, ids[0])
    entries = []
    for transaction_id in ids:  # newest first: each one's balance before is the next one's after
        legs = postings[transaction_id]
        mine = [leg for leg in legs if leg.shop_id == shop_id]
        change = sum(int(leg.amount) for leg in mine if leg.account_kind in OWN)
        entries.append(
            Entry(
                at=legs[0].created_at,
                kind=legs[0].kind,
                order_id=legs[0].order_id,
                change=Money(change, currency),
                fee=Money(
                    sum(
                        int(leg.amount)
                        for leg in legs
                        if leg.account_kind == AccountKind.platform_fees
                    ),
                    currency,
                ),
                moved=Money(-sum(int(leg.amount) for leg in mine if leg.amount < 0), currency),
                balance_after=Money(balance, currency),
            )
        )
        balance -= change
    return entries, has_next


async def _own_balance_after(
    session: AsyncSession, shop_id: int, currency: str, transaction_id: int
) -> int:
    """The shop's own money just after a transaction: its balances now, less what later
    transactions changed. One statement, so both are read at the same moment."""
    own_accounts = (_accounts.c.shop_id == shop_id) & (_accounts.c.currency == currency)
    own_accounts &= _accounts.c.kind.in_([kind.value for kind in OWN])
    now = select(func.coalesce(func.sum(_accounts.c.balance), 0)).where(own_accounts)
    later = (
        select(func.coalesce(func.sum(_postings.c.amount), 0))
        .join(_accounts, _accounts.c.id == _postings.c.account_id)
        .where(own_accounts, _postings.c.transaction_id > transaction_id)
    )
    value = await session.scalar(select(now.scalar_subquery() - later.scalar_subquery()))
    return int(value or 0)
