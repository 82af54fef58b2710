"""Every domain's tables, imported so Base.metadata is complete (Alembic, tests)."""

from pocketshop.accounts.models import AuthSession, SmsCode, User, WeChatIdentity
from pocketshop.aftersales.models import AftersalesCase, AftersalesEvent, AftersalesPhoto
from pocketshop.analytics.models import (
    PageView,
    ProductDay,
    Progress,
    ShopDay,
    SourceDay,
    StaleDay,
)
from pocketshop.attribution.models import Binding, Campaign, StaffMember, Store
from pocketshop.catalog.models import (
    PlatformCategory,
    Product,
    ProductGroup,
    ProductImage,
    Sku,
    StockAdjustment,
)
from pocketshop.customers.models import Customer, Privilege, Tag, Tagged
from pocketshop.db import Base
from pocketshop.guessing.models import LookupMiss
from pocketshop.ledger.models import LedgerAccount, LedgerPosting, LedgerTransaction
from pocketshop.notifications.models import Delivery, Notification, Preference
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
    "AftersalesCase",
    "AftersalesEvent",
    "AftersalesPhoto",
    "AuthSession",
    "BankCard",
    "Base",
    "Binding",
    "Campaign",
    "CartItem",
    "Customer",
    "Delivery",
    "LedgerAccount",
    "LedgerPosting",
    "LedgerTransaction",
    "LookupMiss",
    "MerchantIdentity",
    "MoneyEvent",
    "Notification",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxMessage",
    "PageView",
    "Payment",
    "PaymentAnomaly",
    "PaymentRequest",
    "PlatformCategory",
    "Preference",
    "Privilege",
    "Product",
    "ProductDay",
    "ProductGroup",
    "ProductImage",
    "Progress",
    "ProviderNotice",
    "Refund",
    "SandboxRefund",
    "SandboxTransaction",
    "Settlement",
    "Shipment",
    "ShipmentLine",
    "ShippingRule",
    "Shop",
    "ShopDay",
    "Sku",
    "SmsCode",
    "SourceDay",
    "StaffMember",
    "StaleDay",
    "StockAdjustment",
    "Store",
    "Tag",
    "Tagged",
    "User",
    "WeChatIdentity",
    "Withdrawal",
]
