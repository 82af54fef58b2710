"""Double-entry ledger tables: accounts, transactions and their postings. Append-only."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime


class LedgerAccount(Base):
    """Where money sits: an order's escrow, a shop's pending or available money, the
    provider's clearing account, the platform's fees...

    `balance` is a cached sum of the account's postings, kept only where it is read often and
    written by few (an order's, a shop's); platform-wide accounts that every payment touches
    keep none (NULL), so payments do not queue on one row. A guarded account never goes below
    zero: the conditional UPDATE that moves its balance refuses it.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner", "currency"),
        Index("ix_ledger_accounts_shop_kind", "shop_id", "kind"),
        CheckConstraint("NOT guarded OR balance >= 0", name="guarded_not_negative"),
        CheckConstraint("NOT guarded OR balance IS NOT NULL", name="guarded_is_cached"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Whose: an order id, a shop id, a provider's name, or "platform".
    owner: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    # The shop a merchant-side account belongs to, for the shop's own totals.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    guarded: Mapped[bool] = mapped_column(Boolean)
    balance: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerTransaction(Base):
    """One movement of money: postings that sum to zero per currency. `reference` names the
    business event ("capture:payment:12"), so the same event is never posted twice."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(96), unique=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    memo: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerPosting(Base):
    """One account's side of a transaction: positive adds to its balance, negative takes."""

    __tablename__ = "ledger_postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
