"""guessing: lookups by number that found nothing, counted per asker and window

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lookup_misses",
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("asker", sa.String(length=64), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("window_start", "asker", name=op.f("pk_lookup_misses")),
    )


def downgrade() -> None:
    op.drop_table("lookup_misses")
