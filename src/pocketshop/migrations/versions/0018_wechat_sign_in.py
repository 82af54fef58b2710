"""WeChat sign-in: an account may have no phone until one is bound; a user's WeChat identities
(one per app) keep the nickname and avatar they agreed to share; a shop remembers the shop
that invited its owner

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 05:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pocketshop.migrations.sqlite import foreign_keys_off

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with foreign_keys_off():
        with op.batch_alter_table("users") as batch:
            batch.alter_column("phone", existing_type=sa.String(20), nullable=True)
        with op.batch_alter_table("wechat_identities") as batch:
            batch.drop_constraint("uq_wechat_identities_user_id", type_="unique")
            batch.create_unique_constraint(
                "uq_wechat_identities_user_id_appid", ["user_id", "appid"]
            )
            batch.add_column(sa.Column("nickname", sa.String(256), nullable=True))
            batch.add_column(sa.Column("avatar_url", sa.String(512), nullable=True))
            batch.add_column(sa.Column("unionid", sa.String(128), nullable=True))
    # Plain ALTER TABLE, not batch mode, as for orders (0016); SQLite takes a reference only
    # inline, in the ADD COLUMN itself.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE shops ADD COLUMN invited_by_shop_id INTEGER REFERENCES shops (id)")
    else:
        op.add_column(
            "shops",
            sa.Column(
                "invited_by_shop_id",
                sa.Integer(),
                sa.ForeignKey("shops.id", name=op.f("fk_shops_invited_by_shop_id_shops")),
                nullable=True,
            ),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_shops_invited_by_shop_id_shops"), "shops", type_="foreignkey")
    op.drop_column("shops", "invited_by_shop_id")
    with foreign_keys_off():
        with op.batch_alter_table("wechat_identities") as batch:
            batch.drop_column("unionid")
            batch.drop_column("avatar_url")
            batch.drop_column("nickname")
            batch.drop_constraint("uq_wechat_identities_user_id_appid", type_="unique")
            batch.create_unique_constraint("uq_wechat_identities_user_id", ["user_id"])
        op.execute("DELETE FROM users WHERE phone IS NULL")
        with op.batch_alter_table("users") as batch:
            batch.alter_column("phone", existing_type=sa.String(20), nullable=False)
