"""Where a sale came from: a shop's offline stores, their staff, its campaign links, and each
buyer's binding to the source that first brought them (attribution)."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime


def new_public_id() -> str:
    return uuid.uuid4().hex


class SourceKind(StrEnum):
    """What brought a buyer. An order with none came direct."""

    store = "store"  # an offline store's QR code
    staff = "staff"  # a staff member's QR code (the order counts for their store too)
    campaign = "campaign"  # a labelled link or QR code ("poster at the market")
    share = "share"  # a link a signed-in customer shared


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(160))
    address: Mapped[str] = mapped_column(String(480), default="")
    # An archived store keeps its sales; its codes bring no new bindings.
    active: Mapped[bool] = mapped_column(server_default=true(), default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffMember(Base):
    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[str] = mapped_column(String(160))
    # E.164 or empty: a staff member who buys through their own code is not their own source.
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(server_default=true(), default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Campaign(Base):
    """A labelled link: where it leads (the shop's home, or one product) and how often it was
    followed."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    label: Mapped[str] = mapped_column(String(160))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    visits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(server_default=true(), default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Binding(Base):
    """A buyer's source in one shop: the first one to bring them, until `expires_at`. Their
    orders in that time are attributed to it."""

    __tablename__ = "source_bindings"
    __table_args__ = (
        UniqueConstraint("shop_id", "buyer_id", name="one_binding_per_buyer"),
        Index("ix_source_bindings_buyer", "buyer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    sharer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
