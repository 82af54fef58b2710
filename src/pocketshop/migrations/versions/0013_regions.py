"""regions: addresses keep the adcodes of their province, city and district; a shop's shipping
rule can charge extra for, or refuse, chosen provinces

Revision ID: 0013
Revises: 0014
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE, not batch mode: SQLite's batch recreate breaks on the tables that point
# at the ones changed here. Old addresses keep their names and no codes.
CODES = ("province_code", "city_code", "district_code")


def upgrade() -> None:
    for name in CODES:
        op.add_column("addresses", sa.Column(name, sa.String(6), nullable=True))
    op.add_column("shipping_rules", sa.Column("regional", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("shipping_rules", "regional")
    for name in reversed(CODES):
        op.drop_column("addresses", name)
