"""attribution: a shop's offline stores, their staff and its campaign links; each buyer's
binding to the source that brought them; and the source each order was placed through

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 00:19:29.799822
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pocketshop.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERRALS = (
    ("referral_store_id", "stores"),
    ("referral_staff_id", "staff_members"),
    ("referral_campaign_id", "campaigns"),
    ("referral_sharer_id", "users"),
)


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("address", sa.String(length=480), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_stores_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("public_id", name=op.f("uq_stores_public_id")),
    )
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stores_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "staff_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_staff_members_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_staff_members_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint("public_id", name=op.f("uq_staff_members_public_id")),
    )
    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_members_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_members_store_id"), ["store_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=160), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("visits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_campaigns_product_id_products")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_campaigns_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("public_id", name=op.f("uq_campaigns_public_id")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "source_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("sharer_id", sa.Integer(), nullable=True),
        sa.Column("bound_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", pocketshop.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["users.id"],
            name=op.f("fk_source_bindings_buyer_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_source_bindings_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["sharer_id"], ["users.id"], name=op.f("fk_source_bindings_sharer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_source_bindings_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_source_bindings_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_source_bindings_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_bindings")),
        sa.UniqueConstraint("shop_id", "buyer_id", name="one_binding_per_buyer"),
    )
    with op.batch_alter_table("source_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_source_bindings_buyer", ["buyer_id"], unique=False)

    # Plain ALTER TABLE, not batch mode: SQLite's batch recreate of `orders` breaks on the
    # tables that point at it.
    op.add_column("orders", sa.Column("referral_kind", sa.String(length=12), nullable=True))
    for name, target in REFERRALS:
        if op.get_bind().dialect.name == "sqlite":
            # SQLite takes a reference only inline, in the ADD COLUMN itself.
            op.execute(f"ALTER TABLE orders ADD COLUMN {name} INTEGER REFERENCES {target} (id)")
            continue
        op.add_column(
            "orders",
            sa.Column(
                name,
                sa.Integer(),
                sa.ForeignKey(f"{target}.id", name=op.f(f"fk_orders_{name}_{target}")),
                nullable=True,
            ),
        )


def downgrade() -> None:
    for name, target in reversed(REFERRALS):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(op.f(f"fk_orders_{name}_{target}"), "orders", type_="foreignkey")
        op.drop_column("orders", name)
    op.drop_column("orders", "referral_kind")

    with op.batch_alter_table("source_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_source_bindings_buyer")

    op.drop_table("source_bindings")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_shop_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_members_store_id"))
        batch_op.drop_index(batch_op.f("ix_staff_members_shop_id"))

    op.drop_table("staff_members")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stores_shop_id"))

    op.drop_table("stores")
