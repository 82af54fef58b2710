"""order region codes: an order keeps the adcodes of its delivery address's province, city and
district, not just the names

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE, not batch mode: SQLite's batch recreate of `orders` breaks on the tables
# that point at it. Older orders (and orders with nothing to deliver) keep no codes.
CODES = ("province_code", "city_code", "district_code")


def upgrade() -> None:
    for name in CODES:
        op.add_column("orders", sa.Column(name, sa.String(6), nullable=True))


def downgrade() -> None:
    for name in reversed(CODES):
        op.drop_column("orders", name)
