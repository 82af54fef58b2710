"""The buyer's address book. Orders copy an address, so editing one never changes an order."""

import contextlib
import dataclasses
from dataclasses import dataclass, replace

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, regions
from pocketshop.accounts.models import User
from pocketshop.accounts.service import normalise_phone
from pocketshop.errors import AppError, Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.orders.models import Address, Order
from pocketshop.text import clean_line, too_long

MAX_ADDRESSES = 20
FIELD_LIMITS = {
    "recipient": (30, N_("Enter the recipient's name (at most %(max)s characters).")),
    "province": (20, N_("Enter the province (at most %(max)s characters).")),
    "city": (20, N_("Enter the city (at most %(max)s characters).")),
    "district": (20, N_("Enter the district (at most %(max)s characters).")),
    "detail": (120, N_("Enter the street and house number (at most %(max)s characters).")),
}


@dataclass(frozen=True)
class AddressInput:
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    # Adcodes from pocketshop.regions: when sent, the names come from them, not the client.
    province_code: str = ""
    city_code: str = ""
    district_code: str = ""

    @property
    def has_codes(self) -> bool:
        return bool(self.province_code or self.city_code or self.district_code)


# The fields of an address form, as the address book, checkout and payment requests post them.
FIELDS = tuple(field.name for field in dataclasses.fields(AddressInput))


def clean(text: str) -> str:
    return clean_line(text)


def validate(data: AddressInput, region: str = "CN") -> AddressInput:
    """Codes, when sent, are checked against the division list and give the names; an address
    with names only (older clients, older rows) is taken as typed."""
    if data.has_codes:
        picked = regions.validate(data.province_code, data.city_code, data.district_code)
        data = replace(
            data,
            province=picked.province,
            city=picked.city,
            district=picked.district,
            province_code=picked.province_code,
            city_code=picked.city_code,
            district_code=picked.district_code,
        )
    cleaned = {name: clean(getattr(data, name)) for name in FIELD_LIMITS}
    for name, (limit, message) in FIELD_LIMITS.items():
        if not cleaned[name] or too_long(cleaned[name], limit):
            raise InvalidInput(_(message, max=limit), code="invalid_address", field=name)
    try:
        phone = normalise_phone(data.phone, region)
    except InvalidInput as exc:
        raise InvalidInput(
            _("Enter the recipient's mobile phone number."), code="invalid_address", field="phone"
        ) from exc
    return AddressInput(
        phone=phone,
        province_code=data.province_code,
        city_code=data.city_code,
        district_code=data.district_code,
        **cleaned,
    )


async def list_for(session: AsyncSession, user: User) -> list[Address]:
    return list(
        await session.scalars(
            select(Address)
            .where(Address.user_id == user.id)
            .order_by(Address.is_default.desc(), Address.id.desc())
        )
    )


async def get_or_404(session: AsyncSession, user: User, public_id: str) -> Address:
    address = await session.scalar(
        select(Address).where(Address.public_id == public_id, Address.user_id == user.id)
    )
    if address is None:
        raise NotFound(_("No such address."), code="address_not_found")
    return address


async def default_for(session: AsyncSession, user: User) -> Address | None:
    found = await list_for(session, user)
    return found[0] if found else None


async def create(
    session: AsyncSession, user: User, data: AddressInput, *, make_default: bool = False
) -> Address:
    valid = validate(data)
    count = await session.scalar(select(func.count()).where(Address.user_id == user.id)) or 0
    if count >= MAX_ADDRESSES:
        raise Conflict(
            _("You can keep at most %(max)s addresses.", max=MAX_ADDRESSES),
            code="too_many_addresses",
        )
    if make_default or count == 0:
        await _clear_default(session, user)
    address = Address(
        user_id=user.id,
        recipient=valid.recipient,
        phone=valid.phone,
        province=valid.province,
        city=valid.city,
        district=valid.district,
        detail=valid.detail,
        province_code=valid.province_code or None,
        city_code=valid.city_code or None,
        district_code=valid.district_code or None,
        is_default=make_default or count == 0,
        created_at=clock.now(),
    )
    session.add(address)
    await session.flush()
    return address


async def remember(session: AsyncSession, user: User, address: AddressInput) -> None:
    """A new address typed when ordering joins the book, unless the book is full: the order
    is placed either way."""
    with contextlib.suppress(AppError):
        async with session.begin_nested():
            await create(session, user, address)


async def edit(
    session: AsyncSession,
    user: User,
    public_id: str,
    data: AddressInput,
    *,
    make_default: bool = False,
) -> Address:
    address = await get_or_404(session, user, public_id)
    valid = validate(data)
    for name in ("recipient", "phone", "province", "city", "district", "detail"):
        setattr(address, name, getattr(valid, name))
    for name in ("province_code", "city_code", "district_code"):
        setattr(address, name, getattr(valid, name) or None)
    if make_default:
        await _clear_default(session, user)
        address.is_default = True
    await session.flush()
    return address


async def remove(session: AsyncSession, user: User, public_id: str) -> None:
    address = await get_or_404(session, user, public_id)
    await session.delete(address)
    await session.flush()


async def move(session: AsyncSession, from_id: int, into_id: int) -> None:
    """One person's two accounts become one: `from_id`'s addresses join `into_id`'s, whose
    default stays the default."""
    await session.execute(
        update(Address)
        .where(Address.user_id == from_id)
        .values(user_id=into_id, is_default=False)
        .execution_options(synchronize_session=False)
    )


async def _clear_default(session: AsyncSession, user: User) -> None:
    await session.execute(
        update(Address).where(Address.user_id == user.id).values(is_default=False)
    )


def one_line(order: Order) -> str:
    """An order's delivery address as couriers write it: province, city, district, street."""
    return f"{order.province}{order.city}{order.district}{order.address_detail}"


def as_input(address: Address) -> AddressInput:
    return AddressInput(
        recipient=address.recipient,
        phone=address.phone,
        province=address.province,
        city=address.city,
        district=address.district,
        detail=address.detail,
        province_code=address.province_code or "",
        city_code=address.city_code or "",
        district_code=address.district_code or "",
    )


def province_code_of(address: AddressInput | Address) -> str | None:
    """The province's adcode: the stored one, else found from the name of an older address."""
    return address.province_code or regions.province_by_name(address.province)
