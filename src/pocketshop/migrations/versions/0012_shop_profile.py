"""shop profile: customer-service phone, WeChat ID and business hours (the settings page)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE, not batch mode: SQLite's batch recreate of `shops` breaks on the tables
# that point at it. Adding (and, from SQLite 3.35, dropping) a column needs no recreate.
COLUMNS = (("service_phone", 20), ("wechat_id", 20), ("business_hours", 240))


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column(
            "shops",
            sa.Column(name, sa.String(length=length), server_default="", nullable=False),
        )


def downgrade() -> None:
    for name, _length in reversed(COLUMNS):
        op.drop_column("shops", name)
