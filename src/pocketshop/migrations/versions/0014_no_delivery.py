"""no delivery: payment requests for a service or a fee, and their orders (no address, no
shipping; once paid they wait for the buyer's confirmation)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE, not batch mode: SQLite's batch recreate of `orders` breaks on the tables
# that point at it. Adding (and, from SQLite 3.35, dropping) a column needs no recreate.
TABLES = ("orders", "payment_requests")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("no_delivery", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "no_delivery")
