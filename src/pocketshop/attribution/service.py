"""A shop's offline stores, their staff and its campaign links: made, renamed, archived,
listed with the sales each brought, and the attributed link of each (what its QR code holds)."""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pocketshop import clock
from pocketshop.accounts.service import normalise_phone
from pocketshop.attribution import tokens
from pocketshop.attribution.models import Campaign, SourceKind, StaffMember, Store
from pocketshop.catalog import service as catalog
from pocketshop.catalog.models import Product
from pocketshop.config import Settings
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.orders.models import Order
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, too_long

NAME_MAX = 40
ADDRESS_MAX = 120
# Enough for a chain's stores and their staff; a cap keeps one shop from filling the tables.
MAX_STORES = 200
MAX_STAFF = 2000
MAX_CAMPAIGNS = 500


@dataclass(frozen=True)
class Sales:
    """Orders a source brought that were paid, and what they came to (fen)."""

    orders: int = 0
    total: int = 0


def _text(value: str, limit: int, *, field: str, required: bool = True) -> str:
    cleaned = clean_line(value)
    if (required and not cleaned) or too_long(cleaned, limit):
        message = (
            _("Enter 1 to %(max)s characters.", max=limit)
            if required
            else _("At most %(max)s characters.", max=limit)
        )
        raise InvalidInput(message, code=f"invalid_{field}", field=field)
    return cleaned


async def _count(
    session: AsyncSession, model: type[Store | StaffMember | Campaign], shop: Shop
) -> int:
    return int(await session.scalar(select(func.count()).where(model.shop_id == shop.id)) or 0)


def _full(message: str) -> Conflict:
    return Conflict(message, code="limit_reached")


# --- stores ------------------------------------------------------------------------------------


async def stores(session: AsyncSession, shop: Shop) -> list[Store]:
    found = await session.scalars(
        select(Store).where(Store.shop_id == shop.id).order_by(Store.active.desc(), Store.id)
    )
    return list(found)


async def store_or_404(session: AsyncSession, shop: Shop, public_id: str) -> Store:
    store = await session.scalar(
        select(Store).where(Store.shop_id == shop.id, Store.public_id == public_id)
    )
    if store is None:
        raise NotFound(_("No such store in your shop."), code="store_not_found")
    return store


async def create_store(session: AsyncSession, shop: Shop, *, name: str, address: str = "") -> Store:
    store = Store(
        shop_id=shop.id,
        name=_text(name, NAME_MAX, field="name"),
        address=_text(address, ADDRESS_MAX, field="address", required=False),
        created_at=clock.now(),
    )
    if await _count(session, Store, shop) >= MAX_STORES:
        raise _full(_("A shop can have at most %(max)s stores.", max=MAX_STORES))
    session.add(store)
    await session.flush()
    return store


async def change_store(
    session: AsyncSession,
    store: Store,
    *,
    name: str | None = None,
    address: str | None = None,
    active: bool | None = None,
) -> Store:
    if name is not None:
        store.name = _text(name, NAME_MAX, field="name")
    if address is not None:
        store.address = _text(address, ADDRESS_MAX, field="address", required=False)
    if active is not None:
        store.active = active
    await session.flush()
    return store


# --- staff -------------------------------------------------------------------------------------


async def staff(session: AsyncSession, shop: Shop, store: Store | None = None) -> list[StaffMember]:
    query = select(StaffMember).where(StaffMember.shop_id == shop.id)
    if store is not None:
        query = query.where(StaffMember.store_id == store.id)
    found = await session.scalars(query.order_by(StaffMember.active.desc(), StaffMember.id))
    return list(found)


async def staff_or_404(session: AsyncSession, shop: Shop, public_id: str) -> StaffMember:
    member = await session.scalar(
        select(StaffMember).where(
            StaffMember.shop_id == shop.id, StaffMember.public_id == public_id
        )
    )
    if member is None:
        raise NotFound(_("No such staff member in your shop."), code="staff_not_found")
    return member


def _phone(raw: str) -> str:
    return normalise_phone(raw, "CN") if raw.strip() else ""


async def add_staff(
    session: AsyncSession, shop: Shop, store: Store, *, name: str, phone: str = ""
) -> StaffMember:
    if not store.active:
        raise Conflict(_("This store is archived: restore it first."), code="store_archived")
    member = StaffMember(
        shop_id=shop.id,
        store_id=store.id,
        name=_text(name, NAME_MAX, field="name"),
        phone=_phone(phone),
        created_at=clock.now(),
    )
    if await _count(session, StaffMember, shop) >= MAX_STAFF:
        raise _full(_("A shop can have at most %(max)s staff members.", max=MAX_STAFF))
    session.add(member)
    await session.flush()
    return member


async def change_staff(
    session: AsyncSession,
    member: StaffMember,
    *,
    name: str | None = None,
    phone: str | None = None,
    active: bool | None = None,
) -> StaffMember:
    if name is not None:
        member.name = _text(name, NAME_MAX, field="name")
    if phone is not None:
        member.phone = _phone(phone)
    if active is not None:
        member.active = active
    await session.flush()
    return member


# --- campaigns ---------------------------------------------------------------------------------


async def campaigns(session: AsyncSession, shop: Shop) -> list[Campaign]:
    found = await session.scalars(
        select(Campaign)
        .where(Campaign.shop_id == shop.id)
        .order_by(Campaign.active.desc(), Campaign.id.desc())
    )
    return list(found)


async def campaign_or_404(session: AsyncSession, shop: Shop, public_id: str) -> Campaign:
    campaign = await session.scalar(
        select(Campaign).where(Campaign.shop_id == shop.id, Campaign.public_id == public_id)
    )
    if campaign is None:
        raise NotFound(_("No such campaign link in your shop."), code="campaign_not_found")
    return campaign


async def create_campaign(
    session: AsyncSession, shop: Shop, *, label: str, product_id: str = ""
) -> Campaign:
    """A labelled link to the shop's home, or to one of its products (by public id)."""
    clean_label = _text(label, NAME_MAX, field="label")
    target = None
    if product_id:
        target = (await catalog.get_or_404(session, shop, product_id)).id
    if await _count(session, Campaign, shop) >= MAX_CAMPAIGNS:
        raise _full(_("A shop can have at most %(max)s campaign links.", max=MAX_CAMPAIGNS))
    campaign = Campaign(
        shop_id=shop.id, label=clean_label, product_id=target, created_at=clock.now()
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def change_campaign(
    session: AsyncSession,
    campaign: Campaign,
    *,
    label: str | None = None,
    active: bool | None = None,
) -> Campaign:
    if label is not None:
        campaign.label = _text(label, NAME_MAX, field="label")
    if active is not None:
        campaign.active = active
    await session.flush()
    return campaign


# --- links and sales ---------------------------------------------------------------------------


def link_path(settings: Settings, shop: Shop, source: Store | StaffMember | Campaign) -> str:
    """The attributed path a source's QR code and link lead through."""
    if isinstance(source, Campaign):
        link = tokens.Link(shop.id, SourceKind.campaign, source.id, source.product_id)
    elif isinstance(source, StaffMember):
        link = tokens.Link(shop.id, SourceKind.staff, source.id)
    else:
        link = tokens.Link(shop.id, SourceKind.store, source.id)
    return f"/s/{shop.slug}/go/{tokens.make(settings, link)}"


async def _sales_by(
    session: AsyncSession, shop: Shop, column: InstrumentedAttribute[int | None]
) -> dict[int, Sales]:
    rows = await session.execute(
        select(column, func.count(), func.coalesce(func.sum(Order.total), 0))
        .where(Order.shop_id == shop.id, Order.paid_at.is_not(None), column.is_not(None))
        .group_by(column)
    )
    return {key: Sales(count, int(total)) for key, count, total in rows if key is not None}


async def sales_by_store(session: AsyncSession, shop: Shop) -> Mapping[int, Sales]:
    """Paid orders per store, its staff members' included."""
    return await _sales_by(session, shop, Order.referral_store_id)


async def sales_by_staff(session: AsyncSession, shop: Shop) -> Mapping[int, Sales]:
    return await _sales_by(session, shop, Order.referral_staff_id)


async def sales_by_campaign(session: AsyncSession, shop: Shop) -> Mapping[int, Sales]:
    return await _sales_by(session, shop, Order.referral_campaign_id)


async def count_visit(session: AsyncSession, campaign_id: int) -> None:
    # In place, without reading it: followed at once by many, no visit is lost.
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(visits=Campaign.visits + 1)
        .execution_options(synchronize_session=False)
    )


def share_path(settings: Settings, shop: Shop, sharer_id: int, product_id: int | None) -> str:
    """The link a signed-in customer shares: it binds whoever follows it to them."""
    token = tokens.make(settings, tokens.Link(shop.id, SourceKind.share, sharer_id, product_id))
    return f"/s/{shop.slug}/go/{token}"


@dataclass(frozen=True)
class Target:
    public_id: str
    title: str


async def targets(session: AsyncSession, links: list[Campaign]) -> dict[int, Target]:
    """The products campaign links lead to, by product id."""
    ids = {link.product_id for link in links if link.product_id is not None}
    if not ids:
        return {}
    rows = await session.execute(
        select(Product.id, Product.public_id, Product.title).where(Product.id.in_(ids))
    )
    return {product_id: Target(public_id, title) for product_id, public_id, title in rows}


async def store_for(session: AsyncSession, member: StaffMember) -> Store:
    store = await session.get(Store, member.store_id)
    if store is None:  # the foreign key says otherwise
        raise NotFound(_("No such store in your shop."), code="store_not_found")
    return store


async def came_through(session: AsyncSession, order: Order) -> str | None:
    """Where an order came from, in the merchant's words; None when the buyer came direct."""
    return await describe(
        session,
        order.referral_kind,
        store_id=order.referral_store_id,
        staff_id=order.referral_staff_id,
        campaign_id=order.referral_campaign_id,
    )


async def describe(
    session: AsyncSession,
    kind: str | None,
    *,
    store_id: int | None,
    staff_id: int | None,
    campaign_id: int | None,
) -> str | None:
    """A source in the merchant's words ("Store 西湖店 · staff member 小王"); None: direct."""
    if kind is None:
        return None
    parts = []
    if store_id is not None:
        store = await session.get(Store, store_id)
        parts.append(_("Store %(name)s", name=store.name if store else "?"))
    if staff_id is not None:
        member = await session.get(StaffMember, staff_id)
        parts.append(_("staff member %(name)s", name=member.name if member else "?"))
    if campaign_id is not None:
        campaign = await session.get(Campaign, campaign_id)
        parts.append(_("campaign link “%(label)s”", label=campaign.label if campaign else "?"))
    if kind == SourceKind.share:
        parts.append(_("a customer's share"))
    return " · ".join(parts)
