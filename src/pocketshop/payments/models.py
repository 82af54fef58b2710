"""Payments, refunds, withdrawals, settlements, and what providers told us."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime


def new_public_id() -> str:
    return uuid.uuid4().hex


class Payment(Base):
    """One attempt to pay an order through a provider. `out_trade_no` is what the provider
    knows it by; `provider_txn_id` is the provider's own id, once paid. A payment the
    provider told us of for an out_trade_no we never made (an orphan) has no order, shop or
    buyer: it is recorded to be returned."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_status_query_after", "status", "query_after"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline given to the provider (its order's): unpaid by then, it cannot be paid.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When we next ask the provider about a payment still open (or closing); NULL once final.
    query_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Questions to the provider that did not settle it: the back-off counts them.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Paid, but for no order that waited for it (late, twice, unknown): returned.
    stray: Mapped[bool] = mapped_column(Boolean, default=False)


class MoneyEvent(Base):
    """One row per state change of a payment, refund or withdrawal: what, from, to, who, why."""

    __tablename__ = "money_events"
    __table_args__ = (Index("ix_money_events_subject", "subject", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderNotice(Base):
    """A verified notification from a provider, stored before it is acted on, once per event
    the provider names (its retries are the same event)."""

    __tablename__ = "provider_notices"
    __table_args__ = (
        UniqueConstraint("provider", "event_key"),
        Index("ix_provider_notices_unprocessed", "processed_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    # Payments: the provider's transaction id; refunds: its refund id.
    event_key: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    # What the notice says, decrypted and parsed (see providers.Notice).
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(32), default="")
    # Tries at acting on it that failed, and when the next is due.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentAnomaly(Base):
    """Something the operator must look at: an amount that does not match, a payment for an
    order we do not know, a refund the provider refused..."""

    __tablename__ = "payment_anomalies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    # The shop whose money it concerns, if any: its console shows it as needing attention.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("provider_notices.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Refund(Base):
    """Money going back to a buyer through the provider the order was paid with."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        Index("ix_refunds_status_query_after", "status", "query_after"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    # None for the return of a payment of no order we know.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    # Who asked: buyer, merchant or system (a late payment, a cancelled paid order).
    requested_by: Mapped[str] = mapped_column(String(16))
    # The provider's idempotency key for this refund.
    out_refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    # Where the money came from (escrow.Source): the order's escrow; after receipt the
    # shop's pending money, or after settlement its available money; a payment's own.
    source: Mapped[str] = mapped_column(String(16))
    # Of a refund after release: the platform fee handed back with it.
    fee_returned: Mapped[int] = mapped_column(Integer, default=0)
    # Of a refund after settlement: what the shop's available money lacked, now its debt.
    debt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str] = mapped_column(String(200), default="")
    # When the provider is next asked (to take it, or how it went); NULL once final.
    query_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Settlement(Base):
    """An order's money released to its shop at receipt: waiting (pending) until `settle_at`,
    then available. Refunds before settlement come out of it."""

    __tablename__ = "settlements"
    __table_args__ = (
        Index("ix_settlements_status_settle_at", "status", "settle_at"),
        CheckConstraint("refunded <= gross", name="refunded_in_range"),
        CheckConstraint("fee_returned <= fee", name="fee_returned_in_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[int] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(Integer)
    # Refunds after release, and the platform's fee handed back with them.
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    fee_returned: Mapped[int] = mapped_column(Integer, default=0)
    # Of the money settled: what paid off the shop's debt instead of becoming available.
    debt_paid: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settle_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Withdrawals not final yet: sent to the bank, or its answer unknown.
IN_FLIGHT = "status IN ('requested', 'unknown')"


class Withdrawal(Base):
    """A shop's available money on its way to the bound bank card."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        # At most one in flight per shop, whatever the race.
        Index(
            "uq_withdrawals_one_in_flight",
            "shop_id",
            unique=True,
            sqlite_where=text(IN_FLIGHT),
            postgresql_where=text(IN_FLIGHT),
        ),
        Index("ix_withdrawals_status_query_after", "status", "query_after"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    bank_code: Mapped[str] = mapped_column(String(16))
    card_last4: Mapped[str] = mapped_column(String(4))
    holder_name: Mapped[str] = mapped_column(String(30))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    payout_ref: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str] = mapped_column(String(200), default="")
    # When the bank is next asked (to pay it, or how it went); NULL once final.
    query_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class SandboxTransaction(Base):
    """The sandbox provider's own books (it plays the other side): what was asked to be paid,
    what the buyer did on the hosted page, and its notifications to our callback."""

    __tablename__ = "sandbox_transactions"
    __table_args__ = (Index("ix_sandbox_transactions_notify_at", "notify_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    notify_url: Mapped[str] = mapped_column(String(512))
    return_url: Mapped[str] = mapped_column(String(512))
    # NOTPAY, SUCCESS, PAYERROR, CLOSED (WeChat Pay's trade states).
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The deadline we gave (WeChat's time_expire): unpaid after it, it cannot be paid.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The next notification is due then; NULL when none is (yet, or any more).
    notify_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentRequest(Base):
    """A merchant's invitation to pay: chosen products, or a typed amount with a note; a link
    and QR code a buyer opens, fills an address in, and pays. Each buyer who opens it gets an
    ordinary order of their own (`PaymentRequestOrder`); the first order paid pays the
    request (`order_id`, `buyer_id`), the others are closed, or refunded if paid too."""

    __tablename__ = "payment_requests"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
        Index("ix_payment_requests_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # [{"sku_id": public id, "quantity": n}], or empty with an amount.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    amount: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(240), default="")
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The order that paid it, and its buyer.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A service or a fee: the buyer gives no address, and its order is never shipped.
    no_delivery: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


class PaymentRequestOrder(Base):
    """An order a buyer opened from a payment request."""

    __tablename__ = "payment_request_orders"
    __table_args__ = (Index("ix_payment_request_orders_request_buyer", "request_id", "buyer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("payment_requests.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
