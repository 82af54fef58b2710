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
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop

__all__ = [
    "Address",
    "AuthSession",
    "BankCard",
    "Base",
    "CartItem",
    "MerchantIdentity",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxMessage",
    "PlatformCategory",
    "Product",
    "ProductGroup",
    "ProductImage",
    "Shipment",
    "ShipmentLine",
    "ShippingRule",
    "Shop",
    "Sku",
    "SmsCode",
    "StockAdjustment",
    "User",
]
