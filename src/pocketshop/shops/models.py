import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime


class MerchantIdentity(Base):
    """Step 2 of onboarding: the real name and resident ID (encrypted) of a merchant."""

    __tablename__ = "merchant_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    real_name: Mapped[str] = mapped_column(String(30))
    id_number_encrypted: Mapped[str] = mapped_column(Text)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BankCard(Base):
    """Step 3: the card payouts go to. The number is encrypted; only its last 4 are shown."""

    __tablename__ = "bank_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    holder_name: Mapped[str] = mapped_column(String(30))
    bank_code: Mapped[str] = mapped_column(String(16))
    number_encrypted: Mapped[str] = mapped_column(Text)
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(32), unique=True, default=lambda: uuid.uuid4().hex
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    slug: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    logo_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    # Where buyers send returns (after-sales); given when the shop first agrees to one.
    return_address: Mapped[str] = mapped_column(String(1200), server_default="")
    # What buyers see to reach the shop (the settings page): a mobile number in E.164, a
    # WeChat ID, opening hours as the merchant words them.
    service_phone: Mapped[str] = mapped_column(String(20), server_default="")
    wechat_id: Mapped[str] = mapped_column(String(20), server_default="")
    business_hours: Mapped[str] = mapped_column(String(240), server_default="")
    # The shop whose "open your own shop too" brought its owner here (the viral loop).
    invited_by_shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
