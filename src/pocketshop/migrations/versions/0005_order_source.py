"""orders: where an order came from (a checkout, or a payment request)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="checkout")
        )
    # Orders a payment request holds now; one it let go of was closed unpaid.
    op.execute(
        "UPDATE orders SET source = 'payment_request' WHERE id IN "
        "(SELECT order_id FROM payment_requests WHERE order_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("source")
