"""customers: a shop's customers (kept by the money path), their tags, and privileges
(special prices for a customer or a tag); an order line keeps the regular price beside a
privileged one

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 01:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_customer_tags_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tags")),
        sa.UniqueConstraint("public_id", name=op.f("uq_customer_tags_public_id")),
        sa.UniqueConstraint("shop_id", "name", name="one_tag_per_name"),
    )
    with op.batch_alter_table("customer_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_tags_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("first_order_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("spent", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=12), nullable=True),
        sa.Column("source_store_id", sa.Integer(), nullable=True),
        sa.Column("source_staff_id", sa.Integer(), nullable=True),
        sa.Column("source_campaign_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=1600), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_customers_buyer_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_customers_shop_id_shops")),
        sa.ForeignKeyConstraint(
            ["source_campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_customers_source_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["source_staff_id"],
            ["staff_members.id"],
            name=op.f("fk_customers_source_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["source_store_id"], ["stores.id"], name=op.f("fk_customers_source_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("public_id", name=op.f("uq_customers_public_id")),
        sa.UniqueConstraint("shop_id", "buyer_id", name="one_customer_per_buyer"),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customers_shop_last_order", ["shop_id", "last_order_at"], unique=False
        )
        batch_op.create_index("ix_customers_shop_spent", ["shop_id", "spent"], unique=False)

    op.create_table(
        "customer_tagged",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_tagged_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["customer_tags.id"],
            name=op.f("fk_customer_tagged_tag_id_customer_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "tag_id", name=op.f("pk_customer_tagged")),
    )
    with op.batch_alter_table("customer_tagged", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_tagged_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "privileges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("expires_at", pocketshop.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_privileges_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_privileges_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_privileges_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["customer_tags.id"],
            name=op.f("fk_privileges_tag_id_customer_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privileges")),
        sa.UniqueConstraint("public_id", name=op.f("uq_privileges_public_id")),
    )
    with op.batch_alter_table("privileges", schema=None) as batch_op:
        batch_op.create_index("ix_privileges_shop_sku", ["shop_id", "sku_id"], unique=False)

    # Plain ALTER TABLE, not batch mode: SQLite's batch recreate of `order_lines` breaks on
    # the tables that point at it.
    op.add_column("order_lines", sa.Column("regular_price", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("order_lines", "regular_price")

    with op.batch_alter_table("privileges", schema=None) as batch_op:
        batch_op.drop_index("ix_privileges_shop_sku")

    op.drop_table("privileges")
    with op.batch_alter_table("customer_tagged", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_tagged_tag_id"))

    op.drop_table("customer_tagged")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_shop_spent")
        batch_op.drop_index("ix_customers_shop_last_order")

    op.drop_table("customers")
    with op.batch_alter_table("customer_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_tags_shop_id"))

    op.drop_table("customer_tags")
