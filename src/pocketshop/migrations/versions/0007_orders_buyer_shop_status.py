"""orders: an index for the limits on a buyer's unpaid orders in a shop

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 05:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_buyer_shop_status", "orders", ["buyer_id", "shop_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_orders_buyer_shop_status", table_name="orders")
