"""A shop's customers: one row per buyer who paid the shop, kept up to date as their orders
are paid and refunded (so lists and filters never scan orders), with the merchant's tags and
notes; and privileges, special prices for a customer or a tag of customers."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime
from pocketshop.orders.models import new_public_id


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("shop_id", "buyer_id", name="one_customer_per_buyer"),
        Index("ix_customers_shop_last_order", "shop_id", "last_order_at"),
        Index("ix_customers_shop_spent", "shop_id", "spent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # As their latest paid order was addressed: how the merchant knows them.
    name: Mapped[str] = mapped_column(String(120), default="")
    first_order_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_order_at: Mapped[datetime] = mapped_column(UTCDateTime)
    orders: Mapped[int] = mapped_column(Integer, default=0)  # paid orders
    spent: Mapped[int] = mapped_column(Integer, default=0)  # paid, less refunded (fen)
    # Where their first paid order came from (attribution.SourceKind; none: direct).
    source_kind: Mapped[str | None] = mapped_column(String(12))
    source_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    source_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    source_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    note: Mapped[str] = mapped_column(String(1600), default="")


class Tag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (UniqueConstraint("shop_id", "name", name="one_tag_per_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(48))


class Tagged(Base):
    __tablename__ = "customer_tagged"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("customer_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PrivilegeKind(StrEnum):
    discount = "discount"  # `value` basis points off the SKU's price (1500: 15% off)
    fixed_price = "fixed_price"  # `value` fen, the price itself


class Privilege(Base):
    """A special price on one SKU for one customer, or for every customer with a tag, until
    `expires_at` (none: until removed). Checkout gives a buyer the lowest price any of their
    privileges makes, never more than the SKU's own."""

    __tablename__ = "privileges"
    __table_args__ = (Index("ix_privileges_shop_sku", "shop_id", "sku_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("customer_tags.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    value: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
