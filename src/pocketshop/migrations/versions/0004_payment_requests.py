"""payment requests; order lines for a typed amount (no product, no SKU)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:55:06.789246
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("buyer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount IS NULL OR amount > 0", name=op.f("ck_payment_requests_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_payment_requests_buyer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_payment_requests_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_requests_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_payment_requests_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_requests")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payment_requests_order_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_payment_requests_public_id")),
    )
    with op.batch_alter_table("payment_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_requests_shop_created", ["shop_id", "created_at"], unique=False
        )

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("product_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column("sku_id", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("sku_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.alter_column("product_id", existing_type=sa.INTEGER(), nullable=False)

    with op.batch_alter_table("payment_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_requests_shop_created")

    op.drop_table("payment_requests")
