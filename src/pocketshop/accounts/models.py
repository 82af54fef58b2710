import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime
from pocketshop.text import code_point_cap


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(32), unique=True, default=lambda: uuid.uuid4().hex
    )
    # E.164, e.g. +8613800138000. None for someone signed in with WeChat who has not bound
    # a phone yet (accounts.identities.bind_phone): they browse, and bind one to order.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language they last logged in with: what they are told in (notifications).
    locale: Mapped[str | None] = mapped_column(String(8))
    # Decides after-sales disputes (/admin/disputes); set with `pocketshop operators`.
    is_operator: Mapped[bool] = mapped_column(server_default=false(), default=False)


class SmsCode(Base):
    """A login code sent to a phone. Only its HMAC is stored; the newest one is the valid one."""

    __tablename__ = "sms_codes"
    __table_args__ = (
        Index("ix_sms_codes_phone_created_at", "phone", "created_at"),
        Index("ix_sms_codes_ip_created_at", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    ip: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthSession(Base):
    """A login: a page session (cookie) or an API bearer token. Only the token's hash is kept."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WeChatIdentity(Base):
    """A user's openid in one of the platform's WeChat apps: the Official Account that signs
    them in inside WeChat (and whose openid WeChat Pay's JSAPI takes), the app that sends
    WeChat messages. One per user and app; an openid is one user's."""

    __tablename__ = "wechat_identities"
    __table_args__ = (UniqueConstraint("appid", "openid"), UniqueConstraint("user_id", "appid"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(128))
    # With snsapi_userinfo only (the user agreed): what WeChat calls them, and their avatar.
    nickname: Mapped[str | None] = mapped_column(String(code_point_cap(64)))
    avatar_url: Mapped[str | None] = mapped_column(String(512))
    unionid: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
