"""A shop's customers: kept up to date by the money path (`record_paid` when an order is
paid, `record_refund` when money goes back), listed and filtered from their own rows, with
the merchant's tags and notes."""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock, db
from pocketshop.accounts.models import User
from pocketshop.customers.models import Customer, Tag, Tagged
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.orders.models import Order, new_public_id
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, like_pattern, too_long

PAGE_SIZE = 20
NOTE_MAX = 400
TAG_MAX = 12
MAX_TAGS = 100  # per shop
SOURCES = ("direct", "store", "staff", "campaign", "share")


class Sort(StrEnum):
    recent = "recent"  # last order, newest first
    spent = "spent"  # most spent first
    orders = "orders"  # most orders first


# --- kept by the money path --------------------------------------------------------------------


async def record_paid(session: AsyncSession, order: Order) -> None:
    """The order was paid: its buyer is the shop's customer, with one more order and what it
    cost. Their first paid order says where they came from. Under the order's lock; one row
    per buyer whatever races."""
    now = clock.now()
    table = db.table_of(Customer)
    row = {
        "public_id": new_public_id(),
        "shop_id": order.shop_id,
        "buyer_id": order.buyer_id,
        "name": order.recipient,
        "first_order_at": now,
        "last_order_at": now,
        "orders": 1,
        "spent": order.total,
        "source_kind": order.referral_kind,
        "source_store_id": order.referral_store_id,
        "source_staff_id": order.referral_staff_id,
        "source_campaign_id": order.referral_campaign_id,
        "note": "",
    }
    if await session.scalar(db.insert_new(session, table), db.new_row(table, row)) is not None:
        return
    await session.execute(
        update(Customer)
        .where(Customer.shop_id == order.shop_id, Customer.buyer_id == order.buyer_id)
        .values(
            orders=Customer.orders + 1,
            spent=Customer.spent + order.total,
            last_order_at=now,
            name=order.recipient or Customer.name,
        )
        .execution_options(synchronize_session=False)
    )


async def record_refund(session: AsyncSession, order: Order, amount: int) -> None:
    """Money went back to the buyer (negative: a refund the provider refused came back)."""
    await session.execute(
        update(Customer)
        .where(Customer.shop_id == order.shop_id, Customer.buyer_id == order.buyer_id)
        .values(spent=Customer.spent - amount)
        .execution_options(synchronize_session=False)
    )


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    query: str = ""  # name or phone
    tag: str = ""  # a tag's public id
    source: str = ""  # one of SOURCES
    min_orders: int = 0
    sort: Sort = Sort.recent


@dataclass(frozen=True)
class Row:
    customer: Customer
    phone: str
    tags: list[Tag]


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    page: int
    has_next: bool


def _filtered(shop: Shop, filters: Filters) -> Select[Customer, str | None]:
    statement = (
        select(Customer, User.phone)
        .join(User, User.id == Customer.buyer_id)
        .where(Customer.shop_id == shop.id)
    )
    text = clean_line(filters.query)
    if text:
        pattern = like_pattern(text)
        statement = statement.where(
            or_(
                Customer.name.like(pattern, escape="\\"),
                User.phone.like(like_pattern(text.replace(" ", "")), escape="\\"),
            )
        )
    if filters.tag:
        statement = statement.where(
            Customer.id.in_(
                select(Tagged.customer_id)
                .join(Tag, Tag.id == Tagged.tag_id)
                .where(Tag.shop_id == shop.id, Tag.public_id == filters.tag)
            )
        )
    if filters.source == "direct":
        statement = statement.where(Customer.source_kind.is_(None))
    elif filters.source in SOURCES:
        statement = statement.where(Customer.source_kind == filters.source)
    if filters.min_orders > 0:
        statement = statement.where(Customer.orders >= filters.min_orders)
    if filters.sort is Sort.spent:
        statement = statement.order_by(Customer.spent.desc())
    elif filters.sort is Sort.orders:
        statement = statement.order_by(Customer.orders.desc())
    return statement.order_by(Customer.last_order_at.desc(), Customer.id.desc())


async def _rows(session: AsyncSession, found: list[tuple[Customer, str | None]]) -> list[Row]:
    tags = await tags_of(session, [customer.id for customer, _phone in found])
    # A customer has paid, so has a phone (ordering needs one).
    return [Row(customer, phone or "", tags.get(customer.id, [])) for customer, phone in found]


async def page_of(session: AsyncSession, shop: Shop, filters: Filters, *, page: int = 1) -> Page:
    page = max(page, 1)
    statement = _filtered(shop, filters).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    found = [(row[0], row[1]) for row in await session.execute(statement)]
    rows = await _rows(session, found[:PAGE_SIZE])
    return Page(rows, page, len(found) > PAGE_SIZE)


async def every(session: AsyncSession, shop: Shop, filters: Filters) -> list[Row]:
    """All customers the filters keep, for an export."""
    found = [
        (customer, phone) for customer, phone in await session.execute(_filtered(shop, filters))
    ]
    return await _rows(session, found)


async def get_or_404(session: AsyncSession, shop: Shop, public_id: str) -> Row:
    found = (
        await session.execute(
            select(Customer, User.phone)
            .join(User, User.id == Customer.buyer_id)
            .where(Customer.shop_id == shop.id, Customer.public_id == public_id)
        )
    ).first()
    if found is None:
        raise NotFound(_("No such customer in your shop."), code="customer_not_found")
    customer, phone = found
    return (await _rows(session, [(customer, phone)]))[0]


async def orders_of(session: AsyncSession, customer: Customer, *, limit: int = 50) -> list[Order]:
    """Their orders in the shop, newest first (paid or not)."""
    found = await session.scalars(
        select(Order)
        .where(Order.shop_id == customer.shop_id, Order.buyer_id == customer.buyer_id)
        .order_by(Order.created_at.desc())
        .limit(limit)
    )
    return list(found)


# --- notes and tags ----------------------------------------------------------------------------


async def set_note(session: AsyncSession, customer: Customer, note: str) -> None:
    text = (note or "").strip()
    if too_long(text, NOTE_MAX):
        raise InvalidInput(
            _("A note can have at most %(max)s characters.", max=NOTE_MAX),
            code="note_too_long",
            field="note",
        )
    customer.note = text
    await session.flush()


async def tags(session: AsyncSession, shop: Shop) -> list[tuple[Tag, int]]:
    """The shop's tags, by name, each with how many customers carry it."""
    counted = select(Tagged.tag_id, func.count().label("count")).group_by(Tagged.tag_id).subquery()
    rows = await session.execute(
        select(Tag, func.coalesce(counted.c.count, 0))
        .outerjoin(counted, counted.c.tag_id == Tag.id)
        .where(Tag.shop_id == shop.id)
        .order_by(Tag.name)
    )
    return [(tag, int(count)) for tag, count in rows]


async def tags_of(session: AsyncSession, customer_ids: list[int]) -> dict[int, list[Tag]]:
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Tagged.customer_id, Tag)
        .join(Tag, Tag.id == Tagged.tag_id)
        .where(Tagged.customer_id.in_(customer_ids))
        .order_by(Tag.name)
    )
    found: dict[int, list[Tag]] = {}
    for customer_id, tag in rows:
        found.setdefault(customer_id, []).append(tag)
    return found


async def tag_or_404(session: AsyncSession, shop: Shop, public_id: str) -> Tag:
    tag = await session.scalar(
        select(Tag).where(Tag.shop_id == shop.id, Tag.public_id == public_id)
    )
    if tag is None:
        raise NotFound(_("No such tag in your shop."), code="tag_not_found")
    return tag


async def add_tag(session: AsyncSession, shop: Shop, customer: Customer, name: str) -> Tag:
    """Tag the customer, making the tag if the shop has none of that name."""
    clean = clean_line(name)
    if not clean or too_long(clean, TAG_MAX):
        raise InvalidInput(
            _("A tag needs 1 to %(max)s characters.", max=TAG_MAX), code="invalid_tag", field="tag"
        )
    tag = await session.scalar(select(Tag).where(Tag.shop_id == shop.id, Tag.name == clean))
    if tag is None:
        count = await session.scalar(select(func.count()).where(Tag.shop_id == shop.id))
        if (count or 0) >= MAX_TAGS:
            raise Conflict(
                _("A shop can have at most %(max)s tags.", max=MAX_TAGS), code="limit_reached"
            )
        tag = Tag(shop_id=shop.id, name=clean)
        session.add(tag)
        await session.flush()
    # Tagged already (a second tap): nothing to do, and no error.
    await session.execute(
        db.insert_ignoring(session, db.table_of(Tagged)),
        {"customer_id": customer.id, "tag_id": tag.id},
    )
    cache.invalidate(session, cache.privileges_tag(shop.id))  # a tag's privileges are theirs
    return tag


async def remove_tag(session: AsyncSession, customer: Customer, tag: Tag) -> None:
    await session.execute(
        delete(Tagged).where(Tagged.customer_id == customer.id, Tagged.tag_id == tag.id)
    )
    cache.invalidate(session, cache.privileges_tag(customer.shop_id))
