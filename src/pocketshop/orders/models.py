import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime


def new_public_id() -> str:
    return uuid.uuid4().hex


class Address(Base):
    """A buyer's address book entry. Orders copy it, so editing it never changes an order."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(80))
    district: Mapped[str] = mapped_column(String(80))
    # Adcodes (pocketshop.regions); names are derived from them. Older rows have names only.
    province_code: Mapped[str | None] = mapped_column(String(6))
    city_code: Mapped[str | None] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    detail: Mapped[str] = mapped_column(String(480))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("user_id", "sku_id"),
        Index("ix_cart_items_user_shop", "user_id", "shop_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShippingRule(Base):
    """How a shop charges for shipping: free, a flat fee, or a flat fee waived above a total."""

    __tablename__ = "shipping_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    fee: Mapped[int] = mapped_column(Integer, default=0)
    free_above: Mapped[int | None] = mapped_column(Integer)
    # JSON: {"extra": {province adcode: fen}, "none": [province adcodes]}; NULL: no regions.
    regional: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("buyer_id", "idempotency_key"),
        Index("ix_orders_shop_status_created", "shop_id", "status", "created_at"),
        Index("ix_orders_shop_created", "shop_id", "created_at"),
        Index("ix_orders_buyer_created", "buyer_id", "created_at"),
        # Every checkout reads the buyer's unpaid orders in the shop (the limits on them): by
        # this, not through the shop's unpaid orders, thousands of them during a sale.
        Index("ix_orders_buyer_shop_status", "buyer_id", "shop_id", "status"),
        Index("ix_orders_status_pay_by", "status", "pay_by"),
        Index("ix_orders_status_auto_confirm_at", "status", "auto_confirm_at"),
        CheckConstraint("total >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Date plus random digits: unique, readable on the phone, not guessable.
    number: Mapped[str] = mapped_column(String(24), unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    items_total: Mapped[int] = mapped_column(Integer)
    shipping_fee: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(80))
    district: Mapped[str] = mapped_column(String(80))
    # Adcodes (pocketshop.regions) of the address copied. Older orders, and those with nothing
    # to deliver, have none; an address with names only gives its province's code.
    province_code: Mapped[str | None] = mapped_column(String(6))
    city_code: Mapped[str | None] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    address_detail: Mapped[str] = mapped_column(String(480))
    note: Mapped[str] = mapped_column(String(800), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Due times the jobs sweep; cleared when the order leaves the state they belong to.
    pay_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auto_confirm_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the buyer is told receipt will be confirmed for them soon; cleared once told.
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(24))
    # What made it (OrderSource): a checkout, or a payment request the merchant sent.
    source: Mapped[str] = mapped_column(String(16), server_default="checkout")
    # An after-sales case is open on it (aftersales): its escrow waits for the case's end.
    aftersales_open: Mapped[bool] = mapped_column(server_default=false(), default=False)
    # Nothing to ship (a payment request for a service or a fee): no address, no shipping fee;
    # once paid it waits for the buyer's confirmation (orders.service.await_confirmation).
    no_delivery: Mapped[bool] = mapped_column(server_default=false(), default=False)
    # Who brought the buyer (attribution.SourceKind; none: they came direct), copied from
    # the buyer's binding in this shop when the order was placed. A staff member's order
    # names their store too.
    referral_kind: Mapped[str | None] = mapped_column(String(12))
    referral_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    referral_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    referral_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    referral_sharer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class OrderLine(Base):
    """What was bought, as it was when bought: title, spec and price are copies."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity", name="shipped_in_range"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    # Empty for a line of a typed amount (a payment request): no product, no stock.
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id"))
    title: Mapped[str] = mapped_column(String(240))
    spec_text: Mapped[str] = mapped_column(String(250))
    image_key: Mapped[str | None] = mapped_column(String(128))
    unit_price: Mapped[int] = mapped_column(Integer)
    # The SKU's own price, when a privilege of the buyer's made `unit_price` lower.
    regular_price: Mapped[int | None] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int] = mapped_column(Integer)
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # Refunded before it was shipped (after-sales): never to ship.
    cancelled_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    position: Mapped[int] = mapped_column(Integer, default=0)


class OrderEvent(Base):
    """One row per state change: who, when, from what, to what, why."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Shipment(Base):
    """One package: a carrier, a tracking number and the lines (or parts of them) inside."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    carrier: Mapped[str] = mapped_column(String(16))
    tracking_number: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
