"""Every domain's tables, imported so Base.metadata is complete (Alembic, tests)."""

from pocketshop.accounts.models import AuthSession, SmsCode, User
from pocketshop.db import Base
from pocketshop.outbox import OutboxMessage
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop

__all__ = [
    "AuthSession",
    "BankCard",
    "Base",
    "MerchantIdentity",
    "OutboxMessage",
    "Shop",
    "SmsCode",
    "User",
]
