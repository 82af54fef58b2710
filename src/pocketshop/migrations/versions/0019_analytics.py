"""analytics: storefront page views (a visitor once a day per page), daily rollups per shop,
source and product, the days the rollup job has to redo, how far it looked at paid orders;
orders indexed by when they were paid (paid orders only)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAID = sa.text("paid_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "page_views",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("page", sa.String(length=8), nullable=False),
        sa.Column("target_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("visitor", sa.LargeBinary(length=16), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_page_views_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint(
            "shop_id", "day", "page", "target_id", "visitor", name=op.f("pk_page_views")
        ),
    )
    op.create_table(
        "analytics_shop_days",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("turnover", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_analytics_shop_days_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("shop_id", "day", name=op.f("pk_analytics_shop_days")),
    )
    op.create_table(
        "analytics_source_days",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("turnover", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_analytics_source_days_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("shop_id", "day", "source", name=op.f("pk_analytics_source_days")),
    )
    op.create_table(
        "analytics_product_days",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("turnover", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_analytics_product_days_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_analytics_product_days_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint(
            "shop_id", "day", "product_id", name=op.f("pk_analytics_product_days")
        ),
    )
    op.create_table(
        "analytics_stale_days",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_analytics_stale_days_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("shop_id", "day", name=op.f("pk_analytics_stale_days")),
    )
    op.create_table(
        "analytics_progress",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("until", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_progress")),
    )
    # Plain CREATE INDEX, not batch mode: an index needs no copy of `orders`.
    op.create_index(
        "ix_orders_shop_paid_at",
        "orders",
        ["shop_id", "paid_at"],
        postgresql_where=PAID,
        sqlite_where=PAID,
    )
    op.create_index(
        "ix_orders_paid_at", "orders", ["paid_at"], postgresql_where=PAID, sqlite_where=PAID
    )


def downgrade() -> None:
    op.drop_index("ix_orders_paid_at", table_name="orders")
    op.drop_index("ix_orders_shop_paid_at", table_name="orders")
    op.drop_table("analytics_progress")
    op.drop_table("analytics_stale_days")
    op.drop_table("analytics_product_days")
    op.drop_table("analytics_source_days")
    op.drop_table("analytics_shop_days")
    op.drop_table("page_views")
