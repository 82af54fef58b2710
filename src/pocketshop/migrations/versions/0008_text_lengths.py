"""text columns sized to their code-point caps: a limit of N characters counts grapheme
clusters (👩‍👩‍👧‍👦 is one character of 7 code points), capped at 4 code points each

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pocketshop.migrations.sqlite import foreign_keys_off

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> [(column, old length, new length)]
WIDENED: dict[str, list[tuple[str, int, int]]] = {
    "shops": [("name", 30, 120)],
    "product_groups": [("name", 20, 80)],
    "products": [("title", 60, 240), ("title_folded", 60, 240)],
    "skus": [("spec_key", 200, 250), ("code", 40, 160)],
    "stock_adjustments": [("note", 200, 800)],
    "addresses": [
        ("recipient", 30, 120),
        ("province", 20, 80),
        ("city", 20, 80),
        ("district", 20, 80),
        ("detail", 120, 480),
    ],
    "orders": [
        ("recipient", 30, 120),
        ("province", 20, 80),
        ("city", 20, 80),
        ("district", 20, 80),
        ("address_detail", 120, 480),
        ("note", 200, 800),
    ],
    "order_lines": [("title", 60, 240), ("spec_text", 200, 250)],
    "payment_requests": [("note", 60, 240)],
}


def upgrade() -> None:
    with foreign_keys_off():
        for table, columns in WIDENED.items():
            with op.batch_alter_table(table) as batch:
                for name, old, new in columns:
                    batch.alter_column(name, existing_type=sa.String(old), type_=sa.String(new))


def downgrade() -> None:
    # Longer texts written since are cut to fit (PostgreSQL refuses to shorten otherwise).
    with foreign_keys_off():
        for table, columns in WIDENED.items():
            with op.batch_alter_table(table) as batch:
                for name, old, new in columns:
                    batch.alter_column(
                        name,
                        existing_type=sa.String(new),
                        type_=sa.String(old),
                        postgresql_using=f"left({name}, {old})",
                    )
