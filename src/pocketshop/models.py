"""Every domain's tables, imported so Base.metadata is complete (Alembic, tests)."""

from pocketshop.accounts.models import AuthSession, SmsCode, User
from pocketshop.catalog.models import (
    PlatformCategory,
    Product,
    ProductGroup,
    ProductImage,
    Sku,
    StockAdjustment,
)
from pocketshop.db import Base
from pocketshop.guessing.models import LookupMiss
from pocketshop.ledger.models import LedgerAccount, LedgerPosting, LedgerTransaction
from pocketshop.orders.models import (
    Address,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    Shipment,
    ShipmentLine,
    ShippingRule,
)
from pocketshop.outbox import OutboxMessage
from pocketshop.payments.models import (
    MoneyEvent,
    Payment,
    PaymentAnomaly,
    PaymentRequest,
    ProviderNotice,
    Refund,
    SandboxRefund,
    SandboxTransaction,
    Settlement,
    Withdrawal,
)
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop

__all__ = [
    "Address",
    "AuthSession",
    "BankCard",
    "Base",
    "CartItem",
    "LedgerAccount",
    "LedgerPosting",
    "LedgerTransaction",
    "LookupMiss",
    "MerchantIdentity",
    "MoneyEvent",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxMessage",
    "Payment",
    "PaymentAnomaly",
    "PaymentRequest",
    "PlatformCategory",
    "Product",
    "ProductGroup",
    "ProductImage",
    "ProviderNotice",
    "Refund",
    "SandboxRefund",
    "SandboxTransaction",
    "Settlement",
    "Shipment",
    "ShipmentLine",
    "ShippingRule",
    "Shop",
    "Sku",
    "SmsCode",
    "StockAdjustment",
    "User",
    "Withdrawal",
]
