"""Privileges: a special price on chosen SKUs for one customer, or for every customer with a
tag — a discount in basis points or a fixed price — optionally until a moment. Checkout (and
the cart it shows) gives a buyer the lowest price their live privileges make, never above the
SKU's own price, and the order line keeps the regular price beside it."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.catalog import service as catalog
from pocketshop.catalog.models import Product, Sku
from pocketshop.customers.models import Customer, Privilege, PrivilegeKind, Tag, Tagged
from pocketshop.errors import InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.shops.models import Shop

MAX_BPS = 9900  # at most 99% off: a privilege never gives a thing away


@dataclass(frozen=True)
class Offer:
    """A price a privilege makes for one SKU."""

    price: int
    privilege_id: int


def price_with(kind: str, value: int, regular: int) -> int:
    if kind == PrivilegeKind.discount:
        # Rounded to the fen, in the buyer's favour by at most half a fen.
        return max(1, (regular * (10_000 - value) + 5_000) // 10_000)
    return min(value, regular)


# Built once (with bindparam): building it cost more than running it, on every checkout.
_THEIRS = select(Customer.id).where(
    Customer.shop_id == bindparam("shop_id"), Customer.buyer_id == bindparam("buyer_id")
)
_LIVE = select(Privilege).where(
    Privilege.shop_id == bindparam("shop_id"),
    Privilege.sku_id.in_(bindparam("sku_ids", expanding=True)),
    or_(Privilege.expires_at.is_(None), Privilege.expires_at > bindparam("now")),
    or_(
        Privilege.customer_id.in_(_THEIRS),
        Privilege.tag_id.in_(select(Tagged.tag_id).where(Tagged.customer_id.in_(_THEIRS))),
    ),
)


async def offers_for(
    session: AsyncSession, shop_id: int, buyer_id: int, prices: dict[int, int]
) -> dict[int, Offer]:
    """For a buyer, the SKUs (id -> regular price) their live privileges make cheaper, each
    with its lowest price. One query."""
    if not prices:
        return {}
    found = await session.scalars(
        _LIVE,
        {"shop_id": shop_id, "buyer_id": buyer_id, "sku_ids": list(prices), "now": clock.now()},
    )
    offers: dict[int, Offer] = {}
    for privilege in found:
        price = price_with(privilege.kind, privilege.value, prices[privilege.sku_id])
        best = offers.get(privilege.sku_id)
        if price < prices[privilege.sku_id] and (best is None or price < best.price):
            offers[privilege.sku_id] = Offer(price, privilege.id)
    return offers


# --- the merchant's side -----------------------------------------------------------------------


def _checked(kind: str, value: int) -> PrivilegeKind:
    try:
        checked = PrivilegeKind(kind)
    except ValueError:
        raise InvalidInput(
            _("Choose a discount or a fixed price."), code="invalid_kind", field="kind"
        ) from None
    if checked is PrivilegeKind.discount and not 1 <= value <= MAX_BPS:
        raise InvalidInput(_("A discount is 0.01% to 99%."), code="invalid_discount", field="value")
    if checked is PrivilegeKind.fixed_price and value <= 0:
        raise InvalidInput(
            _("A fixed price is a positive amount."), code="invalid_price", field="value"
        )
    return checked


async def create(
    session: AsyncSession,
    shop: Shop,
    *,
    product_id: str,
    kind: str,
    value: int,
    customer: Customer | None = None,
    tag: Tag | None = None,
    expires_at: datetime | None = None,
) -> list[Privilege]:
    """A privilege on every SKU of one of the shop's products, for a customer or a tag."""
    checked = _checked(kind, value)
    cache.invalidate(session, cache.privileges_tag(shop.id))  # their pages show it
    if (customer is None) == (tag is None):
        raise InvalidInput(
            _("Choose one customer or one tag."), code="invalid_target", field="target"
        )
    if expires_at is not None and expires_at <= clock.now():
        raise InvalidInput(
            _("The end must be in the future."), code="invalid_expiry", field="expires_at"
        )
    product = await catalog.get_or_404(session, shop, product_id)
    skus = await session.scalars(select(Sku.id).where(Sku.product_id == product.id, Sku.active))
    now = clock.now()
    made = [
        Privilege(
            shop_id=shop.id,
            sku_id=sku_id,
            customer_id=customer.id if customer else None,
            tag_id=tag.id if tag else None,
            kind=checked.value,
            value=value,
            expires_at=expires_at,
            created_at=now,
        )
        for sku_id in skus
    ]
    session.add_all(made)
    await session.flush()
    return made


@dataclass(frozen=True)
class Listed:
    privilege: Privilege
    sku_id: str
    title: str
    spec: list[str]
    regular: int
    customer_id: str | None  # public ids
    tag_id: str | None
    tag_name: str | None

    @property
    def price(self) -> int:
        return price_with(self.privilege.kind, self.privilege.value, self.regular)

    @property
    def live(self) -> bool:
        ends = self.privilege.expires_at
        return ends is None or ends > clock.now()


async def of_shop(
    session: AsyncSession,
    shop: Shop,
    *,
    customer: Customer | None = None,
    tag: Tag | None = None,
) -> list[Listed]:
    """The shop's privileges (for one customer or tag, if given), newest first, live or not."""
    statement = (
        select(
            Privilege,
            Sku.public_id,
            Product.title,
            Sku.spec_values,
            Sku.price,
            Customer.public_id,
            Tag.public_id,
            Tag.name,
        )
        .join(Sku, Sku.id == Privilege.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .outerjoin(Customer, Customer.id == Privilege.customer_id)
        .outerjoin(Tag, Tag.id == Privilege.tag_id)
        .where(Privilege.shop_id == shop.id)
    )
    if customer is not None:
        statement = statement.where(Privilege.customer_id == customer.id)
    if tag is not None:
        statement = statement.where(Privilege.tag_id == tag.id)
    rows = await session.execute(statement.order_by(Privilege.id.desc()))
    return [
        Listed(row[0], row[1], row[2], list(row[3]), row[4], row[5], row[6], row[7]) for row in rows
    ]


async def remove(session: AsyncSession, shop: Shop, public_id: str) -> None:
    removed = await session.execute(
        delete(Privilege).where(Privilege.shop_id == shop.id, Privilege.public_id == public_id)
    )
    if not getattr(removed, "rowcount", 0):
        raise NotFound(_("No such privilege in your shop."), code="privilege_not_found")
    cache.invalidate(session, cache.privileges_tag(shop.id))
