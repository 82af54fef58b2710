"""payments, refunds, withdrawals, settlements and the ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:17:18.594006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "money_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_events")),
    )
    with op.batch_alter_table("money_events", schema=None) as batch_op:
        batch_op.create_index("ix_money_events_subject", ["subject", "subject_id"], unique=False)

    op.create_table(
        "provider_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("received_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_notices")),
        sa.UniqueConstraint(
            "provider", "event_key", name=op.f("uq_provider_notices_provider_event_key")
        ),
    )
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_notices_unprocessed", ["processed_at", "received_at"], unique=False
        )

    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_refund_no", sa.String(length=32), nullable=False),
        sa.Column("refund_id", sa.String(length=64), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_refunds")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_sandbox_refunds_out_refund_no")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_sandbox_refunds_refund_id")),
    )
    with op.batch_alter_table("sandbox_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_refunds_out_trade_no"), ["out_trade_no"], unique=False
        )

    op.create_table(
        "sandbox_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("notify_url", sa.String(length=512), nullable=False),
        sa.Column("return_url", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notify_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("notified_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_transactions")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_sandbox_transactions_out_trade_no")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_sandbox_transactions_transaction_id")),
    )
    with op.batch_alter_table("sandbox_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_sandbox_transactions_notify_at", ["notify_at"], unique=False)

    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("guarded", sa.Boolean(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=True),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT guarded OR balance >= 0", name=op.f("ck_ledger_accounts_guarded_not_negative")
        ),
        sa.CheckConstraint(
            "NOT guarded OR balance IS NOT NULL", name=op.f("ck_ledger_accounts_guarded_is_cached")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_ledger_accounts_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint(
            "kind", "owner", "currency", name=op.f("uq_ledger_accounts_kind_owner_currency")
        ),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_accounts_shop_kind", ["shop_id", "kind"], unique=False)

    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("holder_name", sa.String(length=30), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("payout_ref", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_withdrawals_amount_positive")),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_withdrawals_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_withdrawals_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.UniqueConstraint("public_id", name=op.f("uq_withdrawals_public_id")),
        sa.UniqueConstraint(
            "shop_id", "idempotency_key", name=op.f("uq_withdrawals_shop_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_withdrawals_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "uq_withdrawals_one_in_flight",
            ["shop_id"],
            unique=True,
            sqlite_where=sa.text("status = 'requested'"),
            postgresql_where=sa.text("status = 'requested'"),
        )

    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=96), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_ledger_transactions_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_ledger_transactions_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_transactions_reference")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transactions_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transactions_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("provider_txn_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("query_after", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_payments_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_payments_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_payments_out_trade_no")),
        sa.UniqueConstraint("public_id", name=op.f("uq_payments_public_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_payments_status_query_after", ["status", "query_after"], unique=False
        )

    op.create_table(
        "settlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("fee_returned", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("released_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settle_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "fee_returned <= fee", name=op.f("ck_settlements_fee_returned_in_range")
        ),
        sa.CheckConstraint("refunded <= gross", name=op.f("ck_settlements_refunded_in_range")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_settlements_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_settlements_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("order_id", name=op.f("uq_settlements_order_id")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_settlements_status_settle_at", ["status", "settle_at"], unique=False
        )

    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_postings_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_postings_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_postings_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "payment_anomalies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["provider_notices.id"],
            name=op.f("fk_payment_anomalies_notice_id_provider_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_anomalies_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_anomalies")),
    )
    with op.batch_alter_table("payment_anomalies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_anomalies_kind"), ["kind"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.Column("out_refund_no", sa.String(length=32), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fee_returned", sa.Integer(), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=False),
        sa.Column("query_after", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_refunds_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_refunds_out_refund_no")),
        sa.UniqueConstraint("public_id", name=op.f("uq_refunds_public_id")),
        sa.UniqueConstraint(
            "shop_id", "idempotency_key", name=op.f("uq_refunds_shop_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_refunds_status_query_after", ["status", "query_after"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_status_query_after")
        batch_op.drop_index(batch_op.f("ix_refunds_shop_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("payment_anomalies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_anomalies_kind"))

    op.drop_table("payment_anomalies")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_postings_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_postings_account_id"))

    op.drop_table("ledger_postings")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index("ix_settlements_status_settle_at")
        batch_op.drop_index(batch_op.f("ix_settlements_shop_id"))

    op.drop_table("settlements")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_status_query_after")
        batch_op.drop_index(batch_op.f("ix_payments_shop_id"))
        batch_op.drop_index(batch_op.f("ix_payments_order_id"))

    op.drop_table("payments")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_shop_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_order_id"))

    op.drop_table("ledger_transactions")
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_withdrawals_one_in_flight",
            sqlite_where=sa.text("status = 'requested'"),
            postgresql_where=sa.text("status = 'requested'"),
        )
        batch_op.drop_index(batch_op.f("ix_withdrawals_shop_id"))

    op.drop_table("withdrawals")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_accounts_shop_kind")

    op.drop_table("ledger_accounts")
    with op.batch_alter_table("sandbox_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_transactions_notify_at")

    op.drop_table("sandbox_transactions")
    with op.batch_alter_table("sandbox_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_refunds_out_trade_no"))

    op.drop_table("sandbox_refunds")
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_notices_unprocessed")

    op.drop_table("provider_notices")
    with op.batch_alter_table("money_events", schema=None) as batch_op:
        batch_op.drop_index("ix_money_events_subject")

    op.drop_table("money_events")
