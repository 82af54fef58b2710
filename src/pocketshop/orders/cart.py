"""Carts, one per shop: rows for a logged-in buyer, a signed cookie for a guest. The guest's
cookie cart is merged into the buyer's cart when they log in.

Both kinds are a mapping of SKU public id to quantity; `view` prices it from the catalog.
"""

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.catalog import stock
from pocketshop.catalog.models import Sku
from pocketshop.catalog.service import spec_text
from pocketshop.customers import privileges
from pocketshop.errors import InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.orders import shipping_fees
from pocketshop.orders.models import CartItem
from pocketshop.orders.service import MAX_LINES, MAX_QUANTITY
from pocketshop.shops.models import Shop

# What a guest's cookie holds: {shop public id: {sku public id: quantity}}.
GuestCart = dict[str, dict[str, int]]


@dataclass(frozen=True)
class CartLine:
    sku_id: str
    product_id: str
    title: str
    spec: str
    cover_key: str | None
    unit_price: int
    quantity: int
    stock: int
    available: bool
    # The SKU's own price, when a privilege of the buyer's makes `unit_price` lower.
    regular_price: int | None = None

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Cart:
    lines: list[CartLine]
    items_total: int
    shipping_fee: int
    # Some provinces pay an extra fee or get no delivery: the fee above is for `province`
    # (None: before an address is chosen, the fee without any extra).
    regional: bool = False
    province: str | None = None

    @property
    def total(self) -> int:
        return self.items_total + self.shipping_fee


def cart_full() -> InvalidInput:
    return InvalidInput(
        _("A cart can hold at most %(max)s different items.", max=MAX_LINES), code="cart_full"
    )


def check_quantity(quantity: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if type(quantity) is not int or not low <= quantity <= MAX_QUANTITY:
        raise InvalidInput(
            _("A quantity must be a whole number from 1 to %(max)s.", max=MAX_QUANTITY),
            code="invalid_quantity",
            field="quantity",
        )


async def sellable_sku(session: AsyncSession, shop: Shop, sku_public_id: str) -> stock.Purchasable:
    found = (await stock.purchasables(session, shop.id, [sku_public_id])).get(sku_public_id)
    if found is None or not found.sellable:
        raise NotFound(_("This item is not on sale in this shop."), code="sku_not_found")
    return found


async def view(
    session: AsyncSession,
    shop: Shop,
    quantities: dict[str, int],
    province: str | None = None,
    *,
    buyer: User | None = None,
) -> Cart:
    """Price a cart from the catalog (a few queries, whatever its size), as checkout will: with
    the buyer's privileges. Lines whose product left the shelf or sold out stay visible,
    marked unavailable, and are not charged."""
    found = await stock.purchasables(session, shop.id, list(quantities))
    offers = (
        await privileges.offers_for(
            session, shop.id, buyer.id, {item.sku_id: item.price for item in found.values()}
        )
        if buyer is not None
        else {}
    )
    lines = []
    for sku_id, quantity in quantities.items():
        item = found.get(sku_id)
        if item is None:
            continue  # deleted, or never this shop's
        available = item.sellable and item.stock >= quantity
        lines.append(
            CartLine(
                sku_id=sku_id,
                product_id=item.product_public_id,
                title=item.title,
                spec=spec_text(item.spec_values),
                cover_key=item.cover_key,
                unit_price=offers[item.sku_id].price if item.sku_id in offers else item.price,
                quantity=quantity,
                stock=item.stock,
                available=available,
                regular_price=item.price if item.sku_id in offers else None,
            )
        )
    items_total = sum(line.line_total for line in lines if line.available)
    rule = await shipping_fees.rule_for(session, shop)
    fee = shipping_fees.fee(rule, items_total) + rule.extra_for(province) if items_total else 0
    return Cart(
        lines=lines,
        items_total=items_total,
        shipping_fee=fee,
        regional=bool(rule.extra or rule.no_delivery),
        province=province,
    )


# --- a logged-in buyer's cart ------------------------------------------------------------------


async def quantities_of(session: AsyncSession, user: User, shop: Shop) -> dict[str, int]:
    rows = await session.execute(
        select(Sku.public_id, CartItem.quantity)
        .join(Sku, Sku.id == CartItem.sku_id)
        .where(CartItem.user_id == user.id, CartItem.shop_id == shop.id)
        .order_by(CartItem.id)
    )
    return dict(rows.all())


async def set_quantity(
    session: AsyncSession,
    user: User,
    shop: Shop,
    sku_public_id: str,
    quantity: int,
    *,
    add: bool = False,
) -> None:
    """Set (or with `add`, increase) a SKU's quantity; 0 removes it."""
    check_quantity(quantity, allow_zero=not add)
    wanted = await sellable_sku(session, shop, sku_public_id)
    item = await session.scalar(
        select(CartItem).where(CartItem.user_id == user.id, CartItem.sku_id == wanted.sku_id)
    )
    if item is None and quantity == 0:
        return
    if item is None:
        count = len(await quantities_of(session, user, shop))
        if count >= MAX_LINES:
            raise cart_full()
        try:
            async with session.begin_nested():
                session.add(
                    CartItem(
                        user_id=user.id,
                        shop_id=shop.id,
                        sku_id=wanted.sku_id,
                        quantity=quantity,
                        added_at=clock.now(),
                    )
                )
        except IntegrityError:
            # The same SKU was added by a parallel request: treat this one as an update.
            item = await session.scalar(
                select(CartItem).where(
                    CartItem.user_id == user.id, CartItem.sku_id == wanted.sku_id
                )
            )
            if item is None:
                raise
        else:
            return
    if quantity == 0 and not add:
        await session.delete(item)
    else:
        item.quantity = min(item.quantity + quantity, MAX_QUANTITY) if add else quantity
    await session.flush()


async def remove(session: AsyncSession, user: User, shop: Shop, sku_public_id: str) -> None:
    await session.execute(
        delete(CartItem).where(
            CartItem.user_id == user.id,
            CartItem.shop_id == shop.id,
            CartItem.sku_id.in_(select(Sku.id).where(Sku.public_id == sku_public_id)),
        )
    )


async def merge_guest(session: AsyncSession, user: User, guest: GuestCart) -> None:
    """At login: what a guest put in carts is added to the buyer's carts (quantities summed,
    capped). SKUs no longer on sale are dropped."""
    shops = await session.scalars(select(Shop).where(Shop.public_id.in_(list(guest))))
    for shop in shops:
        for sku_public_id, quantity in guest[shop.public_id].items():
            try:
                await set_quantity(session, user, shop, sku_public_id, quantity, add=True)
            except (InvalidInput, NotFound):
                continue


async def move(session: AsyncSession, from_user: User, into_user: User) -> None:
    """One person's two accounts become one: what `from_user` has in carts is added to
    `into_user`'s carts, as a guest's cart is at login."""
    found = await session.execute(
        select(Shop.public_id, Sku.public_id, CartItem.quantity)
        .join(Shop, Shop.id == CartItem.shop_id)
        .join(Sku, Sku.id == CartItem.sku_id)
        .where(CartItem.user_id == from_user.id)
    )
    carts: GuestCart = {}
    for shop_public_id, sku_public_id, quantity in found:
        carts.setdefault(shop_public_id, {})[sku_public_id] = quantity
    await merge_guest(session, into_user, carts)


# --- a guest's cart (pure: the caller reads and writes the cookie) -----------------------------


def guest_quantities(guest: GuestCart, shop: Shop) -> dict[str, int]:
    return dict(guest.get(shop.public_id, {}))


def guest_set(
    guest: GuestCart, shop: Shop, sku_public_id: str, quantity: int, *, add: bool = False
) -> GuestCart:
    check_quantity(quantity, allow_zero=not add)
    items = dict(guest.get(shop.public_id, {}))
    current = items.get(sku_public_id, 0)
    new = min(current + quantity, MAX_QUANTITY) if add else quantity
    if new == 0:
        items.pop(sku_public_id, None)
    else:
        if sku_public_id not in items and len(items) >= MAX_LINES:
            raise cart_full()
        items[sku_public_id] = new
    updated = {key: value for key, value in guest.items() if key != shop.public_id}
    if items:
        updated[shop.public_id] = items
    return updated


def parse_guest(data: object) -> GuestCart:
    """A cookie's content, kept only where it has the expected shape."""
    if not isinstance(data, dict):
        return {}
    cart: GuestCart = {}
    for shop_id, items in list(data.items())[:10]:
        if not isinstance(shop_id, str) or not isinstance(items, dict):
            continue
        kept = {
            sku: quantity
            for sku, quantity in list(items.items())[:MAX_LINES]
            if isinstance(sku, str) and type(quantity) is int and 1 <= quantity <= MAX_QUANTITY
        }
        if kept:
            cart[shop_id] = kept
    return cart
