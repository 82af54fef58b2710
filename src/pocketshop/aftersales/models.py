from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime
from pocketshop.orders.models import new_public_id


class AftersalesCase(Base):
    """A buyer's application about one order line, from asking to its end (states.py). Text
    columns hold their limit's code points (4 per character a person counts: text.py)."""

    __tablename__ = "aftersales_cases"
    __table_args__ = (
        Index("ix_aftersales_cases_shop_status_created", "shop_id", "status", "created_at"),
        Index("ix_aftersales_cases_buyer_created", "buyer_id", "created_at"),
        Index("ix_aftersales_cases_due_at", "due_at"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[int] = mapped_column(Integer)
    # What goes back if it ends in a refund: asked by the buyer, or agreed on a proposal.
    # For an exchange, the goods' value (refunded only if the exchange turns into a refund).
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # The shop's counter-offer, waiting for the buyer's answer.
    proposed_amount: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    # Asked before the line was shipped: the shorter silence timer applies.
    before_shipment: Mapped[bool] = mapped_column(default=False)
    # Copied from the shop when it agreed to take the goods back.
    return_address: Mapped[str] = mapped_column(String(1200), default="")
    return_carrier: Mapped[str | None] = mapped_column(String(16))
    return_tracking: Mapped[str | None] = mapped_column(String(40))
    exchange_carrier: Mapped[str | None] = mapped_column(String(16))
    exchange_tracking: Mapped[str | None] = mapped_column(String(40))
    refusal: Mapped[str] = mapped_column(String(800), default="")
    decision_note: Mapped[str] = mapped_column(String(2000), default="")
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When its timer acts (jobs.py); NULL in a state no timer drives, and once final.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AftersalesPhoto(Base):
    __tablename__ = "aftersales_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("aftersales_cases.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(128))
    thumb_key: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)


class AftersalesEvent(Base):
    """One row per change, shown to both sides as the case's timeline."""

    __tablename__ = "aftersales_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("aftersales_cases.id", ondelete="CASCADE"), index=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    # buyer, merchant, system or operator
    actor: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the step said: a refusal's reason, an amount offered, a tracking number.
    note: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
