"""money path: returned payments, provider deadlines, tries of open operations, shop debt

Payments of no order (orphans) and returned ones; every operation driven to a final state
(tries and the next try); refunds after settlement with the shop's debt; withdrawals whose
answer is unknown; payment requests open to several buyers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_IN_FLIGHT = "status = 'requested'"
IN_FLIGHT = "status IN ('requested', 'unknown')"


def _when() -> pocketshop.db.UTCDateTime:
    return pocketshop.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("order_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("shop_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("buyer_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("expires_at", _when(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("stray", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Open payments get their order's deadline; a payment of an order that no longer
    # waits for it was "paid" then refunded whole: mark what paid no order.
    op.execute(
        "UPDATE payments SET expires_at = (SELECT pay_by FROM orders "
        "WHERE orders.id = payments.order_id) WHERE status = 'created'"
    )
    op.execute(
        "UPDATE payments SET stray = true WHERE id IN (SELECT payment_id FROM refunds "
        "WHERE requested_by = 'system' AND reason IN ('late_payment', 'paid_twice'))"
    )
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_try_at", _when(), nullable=True))
    with op.batch_alter_table("payment_anomalies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_payment_anomalies_shop_id"), ["shop_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_payment_anomalies_shop_id_shops"), "shops", ["shop_id"], ["id"]
        )
    op.execute(
        "UPDATE payment_anomalies SET shop_id = (SELECT shop_id FROM payments "
        "WHERE payments.id = payment_anomalies.payment_id) WHERE payment_id IS NOT NULL"
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.alter_column("order_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("shop_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("debt", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    # Refunds still open are asked about by the new sweep, now.
    op.execute(
        "UPDATE refunds SET query_after = created_at "
        "WHERE status = 'requested' AND query_after IS NULL"
    )
    op.execute(
        "UPDATE refunds SET source = 'return' WHERE payment_id IN "
        "(SELECT id FROM payments WHERE stray = true)"
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("debt_paid", sa.Integer(), nullable=False, server_default="0")
        )
    op.drop_index("uq_withdrawals_one_in_flight", table_name="withdrawals")
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("query_after", _when(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(
            "ix_withdrawals_status_query_after", ["status", "query_after"], unique=False
        )
    op.create_index(
        "uq_withdrawals_one_in_flight",
        "withdrawals",
        ["shop_id"],
        unique=True,
        sqlite_where=sa.text(IN_FLIGHT),
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.execute("UPDATE withdrawals SET query_after = created_at WHERE status = 'requested'")
    with op.batch_alter_table("sandbox_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", _when(), nullable=True))
    op.create_table(
        "payment_request_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_payment_request_orders_order_id_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["payment_requests.id"],
            name=op.f("fk_payment_request_orders_request_id_payment_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_payment_request_orders_buyer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_request_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payment_request_orders_order_id")),
    )
    op.create_index(
        "ix_payment_request_orders_request_buyer",
        "payment_request_orders",
        ["request_id", "buyer_id"],
        unique=False,
    )
    # The order a request held (paid, or waiting for payment) is its buyer's order from it.
    op.execute(
        "INSERT INTO payment_request_orders (request_id, order_id, buyer_id, created_at) "
        "SELECT id, order_id, buyer_id, created_at FROM payment_requests "
        "WHERE order_id IS NOT NULL AND buyer_id IS NOT NULL"
    )
    # An open request no longer holds the order waiting for payment: only a paid one keeps it.
    op.execute("UPDATE payment_requests SET order_id = NULL, buyer_id = NULL WHERE status = 'open'")


def downgrade() -> None:
    op.execute(
        "UPDATE payment_requests SET order_id = (SELECT MIN(order_id) FROM "
        "payment_request_orders WHERE request_id = payment_requests.id) WHERE status = 'open'"
    )
    op.drop_index("ix_payment_request_orders_request_buyer", table_name="payment_request_orders")
    op.drop_table("payment_request_orders")
    with op.batch_alter_table("sandbox_transactions", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    op.drop_index("uq_withdrawals_one_in_flight", table_name="withdrawals")
    op.execute("UPDATE withdrawals SET status = 'requested' WHERE status = 'unknown'")
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.drop_index("ix_withdrawals_status_query_after")
        batch_op.drop_column("attempts")
        batch_op.drop_column("query_after")
    op.create_index(
        "uq_withdrawals_one_in_flight",
        "withdrawals",
        ["shop_id"],
        unique=True,
        sqlite_where=sa.text(OLD_IN_FLIGHT),
        postgresql_where=sa.text(OLD_IN_FLIGHT),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_column("debt_paid")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("debt")
    with op.batch_alter_table("payment_anomalies", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_payment_anomalies_shop_id_shops"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_payment_anomalies_shop_id"))
        batch_op.drop_column("shop_id")
    with op.batch_alter_table("provider_notices", schema=None) as batch_op:
        batch_op.drop_column("next_try_at")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("stray")
        batch_op.drop_column("attempts")
        batch_op.drop_column("expires_at")
