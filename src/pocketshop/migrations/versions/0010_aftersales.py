"""aftersales: a buyer's cases about order lines, their events and photos; the order's
open-case flag, units refunded before shipment, the shop's return address, the operator role

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 14:23:26.710232
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aftersales_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("proposed_amount", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("before_shipment", sa.Boolean(), nullable=False),
        sa.Column("return_address", sa.String(length=1200), nullable=False),
        sa.Column("return_carrier", sa.String(length=16), nullable=True),
        sa.Column("return_tracking", sa.String(length=40), nullable=True),
        sa.Column("exchange_carrier", sa.String(length=16), nullable=True),
        sa.Column("exchange_tracking", sa.String(length=40), nullable=True),
        sa.Column("refusal", sa.String(length=800), nullable=False),
        sa.Column("decision_note", sa.String(length=2000), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_aftersales_cases_amount_not_negative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_aftersales_cases_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_aftersales_cases_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_aftersales_cases_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_aftersales_cases_order_line_id_order_lines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_aftersales_cases_refund_id_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_aftersales_cases_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_cases")),
        sa.UniqueConstraint("public_id", name=op.f("uq_aftersales_cases_public_id")),
    )
    with op.batch_alter_table("aftersales_cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_aftersales_cases_buyer_created", ["buyer_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_aftersales_cases_due_at", ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_aftersales_cases_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_aftersales_cases_order_line_id"), ["order_line_id"], unique=False
        )
        batch_op.create_index(
            "ix_aftersales_cases_shop_status_created",
            ["shop_id", "status", "created_at"],
            unique=False,
        )

    op.create_table(
        "aftersales_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_aftersales_events_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["aftersales_cases.id"],
            name=op.f("fk_aftersales_events_case_id_aftersales_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_aftersales_events_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_events")),
    )
    with op.batch_alter_table("aftersales_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aftersales_events_case_id"), ["case_id"], unique=False)

    op.create_table(
        "aftersales_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("thumb_key", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["aftersales_cases.id"],
            name=op.f("fk_aftersales_photos_case_id_aftersales_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_photos")),
    )
    with op.batch_alter_table("aftersales_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aftersales_photos_case_id"), ["case_id"], unique=False)

    op.add_column(
        "orders",
        sa.Column("aftersales_open", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )

    op.add_column(
        "order_lines",
        sa.Column("cancelled_quantity", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "shops",
        sa.Column("return_address", sa.String(length=1200), server_default="", nullable=False),
    )

    op.add_column(
        "users",
        sa.Column("is_operator", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("order_lines", "cancelled_quantity")
    op.drop_column("users", "is_operator")

    op.drop_column("shops", "return_address")

    op.drop_column("orders", "aftersales_open")

    with op.batch_alter_table("aftersales_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aftersales_photos_case_id"))

    op.drop_table("aftersales_photos")
    with op.batch_alter_table("aftersales_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aftersales_events_case_id"))

    op.drop_table("aftersales_events")
    with op.batch_alter_table("aftersales_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_aftersales_cases_shop_status_created")
        batch_op.drop_index(batch_op.f("ix_aftersales_cases_order_line_id"))
        batch_op.drop_index(batch_op.f("ix_aftersales_cases_order_id"))
        batch_op.drop_index("ix_aftersales_cases_due_at")
        batch_op.drop_index("ix_aftersales_cases_buyer_created")

    op.drop_table("aftersales_cases")
