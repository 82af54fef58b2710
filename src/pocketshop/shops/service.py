"""Opening a shop in four steps: phone (login), identity, bank card, shop. Resumable anywhere."""

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pypinyin import lazy_pinyin
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from pocketshop import cache, clock, db, media
from pocketshop.accounts.models import User
from pocketshop.accounts.service import normalise_phone, require_phone
from pocketshop.config import Settings
from pocketshop.db import Base, for_update
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop
from pocketshop.text import clean_line, too_long

MIN_AGE = 18
SHOP_NAME_MAX = 30
DESCRIPTION_MAX = 500
REAL_NAME_MAX = 30
RETURN_ADDRESS_MAX = 300
BUSINESS_HOURS_MAX = 60
WECHAT_ID_MAX = 20
# WeChat's rule for an ID: 6 to 20 letters, digits, underscores or hyphens.
_WECHAT_ID_RE = re.compile(r"[A-Za-z0-9_-]{6,20}")

# Payout banks by their common codes; names are translated where shown.
BANKS: dict[str, str] = {
    "ICBC": N_("Industrial and Commercial Bank of China"),
    "CCB": N_("China Construction Bank"),
    "ABC": N_("Agricultural Bank of China"),
    "BOC": N_("Bank of China"),
    "BOCOM": N_("Bank of Communications"),
    "CMB": N_("China Merchants Bank"),
    "PSBC": N_("Postal Savings Bank of China"),
    "CITIC": N_("China CITIC Bank"),
    "CEB": N_("China Everbright Bank"),
    "CMBC": N_("China Minsheng Bank"),
    "CIB": N_("Industrial Bank"),
    "SPDB": N_("Shanghai Pudong Development Bank"),
    "PAB": N_("Ping An Bank"),
    "HXB": N_("Hua Xia Bank"),
    "CGB": N_("China Guangfa Bank"),
}


class ShopStatus(StrEnum):
    active = "active"


class Step(StrEnum):
    phone = "phone"
    identity = "identity"
    bank_card = "bank_card"
    shop = "shop"
    done = "done"


@dataclass(frozen=True)
class Onboarding:
    step: Step
    identity: MerchantIdentity | None
    bank_card: BankCard | None
    shop: Shop | None


async def onboarding(session: AsyncSession, user: User) -> Onboarding:
    identity = await session.scalar(
        select(MerchantIdentity).where(MerchantIdentity.user_id == user.id)
    )
    card = await session.scalar(select(BankCard).where(BankCard.user_id == user.id))
    shop = await session.scalar(select(Shop).where(Shop.owner_id == user.id))
    if shop is not None:
        step = Step.done
    elif identity is None:
        step = Step.identity
    elif card is None:
        step = Step.bank_card
    else:
        step = Step.shop
    return Onboarding(step=step, identity=identity, bank_card=card, shop=shop)


async def _require_step(session: AsyncSession, user: User, wanted: Step) -> Onboarding:
    require_phone(user)  # signed in with WeChat only: a shop is reached by phone
    state = await onboarding(session, user)
    if state.step is Step.done:
        raise Conflict(_("Your shop is already open."), code="onboarding_done")
    if state.step is not wanted:
        order = list(Step)
        message = (
            _("This step is already done.")
            if order.index(state.step) > order.index(wanted)
            else _("Please finish the earlier steps first.")
        )
        raise Conflict(message, code="step_out_of_order")
    return state


def _same_name(a: str, b: str) -> bool:
    return clean_line(a).replace(" ", "").casefold() == clean_line(b).replace(" ", "").casefold()


NAME_SEPARATORS = frozenset("·.- ")


def _is_real_name(name: str) -> bool:
    """Letters of any script (with their combining marks) and the separators of names such as
    阿卜杜·热合曼 or Li-Na; at least one letter. No digits, underscores or symbols."""
    return any(ch.isalpha() for ch in name) and all(
        ch.isalpha() or unicodedata.category(ch).startswith("M") or ch in NAME_SEPARATORS
        for ch in name
    )


async def verify_identity(
    session: AsyncSession, settings: Settings, user: User, *, real_name: str, id_number: str
) -> MerchantIdentity:
    await _require_step(session, user, Step.identity)
    name = clean_line(real_name)
    if not name:
        raise InvalidInput(_("Enter your real name."), code="name_required", field="real_name")
    if len(name) > REAL_NAME_MAX or not _is_real_name(name):
        raise InvalidInput(
            _("Enter your real name as on your ID card."), code="invalid_name", field="real_name"
        )
    number = (id_number or "").strip().replace(" ", "").upper()
    if len(number) != 18:
        raise InvalidInput(
            _("A resident ID number has 18 characters."),
            code="invalid_id_number",
            field="id_number",
        )
    try:
        number = ric.validate(number)
        birth_date = ric.get_birth_date(number)
    except ValidationError as exc:
        raise InvalidInput(
            _("This resident ID number is not valid. Please check it."),
            code="invalid_id_number",
            field="id_number",
        ) from exc
    today = clock.now().astimezone(ZoneInfo(settings.default_timezone)).date()
    if _age(birth_date, today) < MIN_AGE:
        raise InvalidInput(
            _("You must be at least 18 years old to open a shop."),
            code="under_age",
            field="id_number",
        )
    identity = MerchantIdentity(
        user_id=user.id,
        real_name=name,
        id_number_encrypted=settings.secrets.fernet.encrypt(number.encode()).decode(),
        id_number_masked=mask_id_number(number),
        verified_at=clock.now(),
    )
    await _add_once(session, identity, _("Your identity is already verified."))
    return identity


def mask_id_number(number: str) -> str:
    """First and last character only: more (birth date, sequence) would let the rest be
    guessed with the checksum. The birth date itself is not kept either."""
    return f"{number[0]}{'*' * (len(number) - 2)}{number[-1]}"


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def bind_bank_card(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    holder_name: str,
    card_number: str,
    bank_code: str,
) -> BankCard:
    state = await _require_step(session, user, Step.bank_card)
    assert state.identity is not None
    if not _same_name(holder_name, state.identity.real_name):
        raise InvalidInput(
            _("The card holder must be you: %(name)s.", name=state.identity.real_name),
            code="holder_mismatch",
            field="holder_name",
        )
    digits = re.sub(r"[\s-]", "", card_number or "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise InvalidInput(
            _("A bank card number has 12 to 19 digits."), code="invalid_card", field="card_number"
        )
    if not luhn.is_valid(digits):
        raise InvalidInput(
            _("This card number is not valid. Please check it."),
            code="invalid_card",
            field="card_number",
        )
    if bank_code not in BANKS:
        raise InvalidInput(_("Choose your bank."), code="invalid_bank", field="bank")
    card = BankCard(
        user_id=user.id,
        holder_name=state.identity.real_name,
        bank_code=bank_code,
        number_encrypted=settings.secrets.fernet.encrypt(digits.encode()).decode(),
        last4=digits[-4:],
        created_at=clock.now(),
    )
    await _add_once(session, card, _("A bank card is already bound."))
    return card


def validate_shop_name(name: str) -> str:
    cleaned = clean_line(name)
    if not cleaned:
        raise InvalidInput(_("Enter a shop name."), code="name_required", field="name")
    if too_long(cleaned, SHOP_NAME_MAX):
        raise InvalidInput(
            _("The shop name can have at most %(max)s characters.", max=SHOP_NAME_MAX),
            code="name_too_long",
            field="name",
        )
    return cleaned


def validate_description(text: str) -> str:
    lines = [clean_line(line) for line in (text or "").strip().splitlines()]
    cleaned = "\n".join(lines).strip()
    if too_long(cleaned, DESCRIPTION_MAX):
        raise InvalidInput(
            _("The description can have at most %(max)s characters.", max=DESCRIPTION_MAX),
            code="description_too_long",
            field="description",
        )
    return cleaned


def slug_base(name: str) -> str:
    """'小王的店 Shop' -> 'xiao-wang-de-dian-shop': pinyin for Chinese, ASCII kept."""
    words = lazy_pinyin(name, errors="default")
    text = unicodedata.normalize("NFKD", "-".join(words)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return slug or "shop"


async def _unique_slug(session: AsyncSession, base: str) -> str:
    taken = set(
        await session.scalars(
            select(Shop.slug).where((Shop.slug == base) | Shop.slug.startswith(f"{base}-"))
        )
    )
    if base not in taken:
        return base
    for n in range(2, 100):
        if f"{base}-{n}" not in taken:
            return f"{base}-{n}"
    return f"{base}-{secrets.token_hex(3)}"


async def open_shop(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    name: str,
    description: str,
    logo_key: str | None,
    invited_by: str | None = None,
) -> Shop:
    """The last step. `logo_key`: a logo processed and staged before this transaction
    (logos.prepare, media.staged). `invited_by`: the slug of the shop whose "open your own
    shop too" brought the owner here, kept for the platform's count of shops invited."""
    await _require_step(session, user, Step.shop)
    inviter = (
        await session.scalar(select(Shop.id).where(Shop.slug == invited_by)) if invited_by else None
    )
    clean_name = validate_shop_name(name)
    clean_description = validate_description(description)
    base = slug_base(clean_name)
    for attempt in range(3):
        slug = (
            await _unique_slug(session, base) if attempt < 2 else f"{base}-{secrets.token_hex(3)}"
        )
        shop = Shop(
            owner_id=user.id,
            slug=slug,
            name=clean_name,
            description=clean_description,
            status=ShopStatus.active.value,
            timezone=settings.default_timezone,
            created_at=clock.now(),
            logo_key=logo_key,
            invited_by_shop_id=inviter,
        )
        try:
            async with session.begin_nested():
                session.add(shop)
        except IntegrityError as exc:
            if await session.scalar(select(Shop.id).where(Shop.owner_id == user.id)):
                raise Conflict(_("Your shop is already open."), code="onboarding_done") from exc
            continue  # someone took the slug a moment ago
        break
    else:
        raise Conflict(_("Please try again."), code="slug_taken")
    return shop


async def update_profile(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    *,
    name: str | None = None,
    description: str | None = None,
    service_phone: str | None = None,
    wechat_id: str | None = None,
    business_hours: str | None = None,
    return_address: str | None = None,
    logo_key: str | None = None,
) -> Shop:
    """The settings page: what buyers see of the shop, after it opened. Each field given
    (not None) is checked, then all are set at once; an empty optional one is cleared. The
    slug never changes, so every link and QR code shared stays good. `logo_key`: a new logo
    processed and staged before this transaction (logos.prepare, media.staged)."""
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = validate_shop_name(name)
    if description is not None:
        changes["description"] = validate_description(description)
    if service_phone is not None:
        changes["service_phone"] = _service_phone(settings, service_phone)
    if wechat_id is not None:
        changes["wechat_id"] = _wechat_id(wechat_id)
    if business_hours is not None:
        hours = clean_line(business_hours)
        if too_long(hours, BUSINESS_HOURS_MAX):
            raise InvalidInput(
                _("Business hours can have at most %(max)s characters.", max=BUSINESS_HOURS_MAX),
                code="business_hours_too_long",
                field="business_hours",
            )
        changes["business_hours"] = hours
    if return_address is not None:
        address = clean_line(return_address)
        # The column holds 300 code points: a long run of emoji counts as few characters.
        if too_long(address, RETURN_ADDRESS_MAX) or len(address) > RETURN_ADDRESS_MAX:
            raise InvalidInput(
                _(
                    "The return address can have at most %(max)s characters.",
                    max=RETURN_ADDRESS_MAX,
                ),
                code="return_address_too_long",
                field="return_address",
            )
        changes["return_address"] = address
    if logo_key is not None:
        changes["logo_key"] = logo_key
    for column, value in changes.items():
        setattr(shop, column, value)
    # The cached row (get_by_slug) and the shop's storefront pages go at commit; the update's
    # flush says so too (drop_on_change below).
    cache.invalidate(session, cache.shop_tag(shop.id))
    await session.flush()
    return shop


def _service_phone(settings: Settings, typed: str) -> str:
    text = (typed or "").strip()
    if not text:
        return ""
    try:
        return normalise_phone(text, settings.default_phone_region)
    except InvalidInput as exc:
        raise InvalidInput(
            _("Enter a mobile phone number buyers can call, e.g. 138 0013 8000."),
            code="invalid_service_phone",
            field="service_phone",
        ) from exc


def _wechat_id(typed: str) -> str:
    text = clean_line(typed)
    if text and not _WECHAT_ID_RE.fullmatch(text):
        raise InvalidInput(
            _("A WeChat ID has 6 to 20 letters, digits, underscores or hyphens."),
            code="invalid_wechat_id",
            field="wechat_id",
        )
    return text


async def named_files(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these media keys a shop's logo names (media.tidy)."""
    return set(await session.scalars(select(Shop.logo_key).where(Shop.logo_key.in_(keys))))


async def _add_once(session: AsyncSession, row: Base, duplicate_message: str) -> None:
    """Insert a row unique per user; a parallel duplicate request gets 409, not 500."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(duplicate_message, code="step_out_of_order") from exc


_SLUG_RE = re.compile(r"[a-z0-9-]{1,48}")


_SHOP_BY_SLUG = select(Shop).where(Shop.slug == bindparam("slug"))  # built once: a hot path


async def get_by_slug(session: AsyncSession, slug: str) -> Shop | None:
    """Every storefront request and order starts here, so the row is kept in the cache,
    dropped when the shop changes (below) like any page of it."""
    if not _SLUG_RE.fullmatch(slug):
        return None  # no such slug is ever made; and PostgreSQL refuses a NUL in text

    async def read() -> tuple[Mapping[str, Any], list[str]] | None:
        shop = await session.scalar(_SHOP_BY_SLUG, {"slug": slug})
        return None if shop is None else (db.columns_of(shop), [cache.shop_tag(shop.id)])

    values = await cache.read_through(session, ("shop", slug), read)
    return None if values is None else db.attach(session, Shop, values)


# A shop changed through the ORM drops its cached row and pages at commit.
cache.drop_on_change(Shop, lambda shop: cache.shop_tag(shop.id))


async def get_by_slug_or_404(session: AsyncSession, slug: str) -> Shop:
    shop = await get_by_slug(session, slug)
    if shop is None or shop.status != ShopStatus.active:
        raise NotFound(_("This shop does not exist or is closed."), code="shop_not_found")
    return shop


async def get_for_owner(session: AsyncSession, user: User) -> Shop | None:
    return await session.scalar(select(Shop).where(Shop.owner_id == user.id))


# The shops an inviting shop brought.
Invitee = aliased(Shop)


async def invitations(session: AsyncSession, limit: int = 100) -> list[tuple[Shop, int]]:
    """The shops whose owners' "open your own shop too" brought most new shops, with how many."""
    invited = func.count(Invitee.id).label("invited")
    rows = await session.execute(
        select(Shop, invited)
        .join(Invitee, Invitee.invited_by_shop_id == Shop.id)
        .group_by(Shop.id)
        .order_by(invited.desc(), Shop.id)
        .limit(limit)
    )
    return [(shop, int(count)) for shop, count in rows]


async def owns_shop(session: AsyncSession, user_id: int) -> bool:
    return await session.scalar(select(Shop.id).where(Shop.owner_id == user_id)) is not None


def banks() -> list[tuple[str, str]]:
    """(code, translated name) of every payout bank, in display order."""
    return [(code, _(name)) for code, name in BANKS.items()]


def bank_name(code: str) -> str:
    return _(BANKS[code]) if code in BANKS else code


def logo_url(shop: Shop) -> str | None:
    return media.url(shop.logo_key) if shop.logo_key else None


def shop_url(base_url: str, shop: Shop) -> str:
    return f"{base_url.rstrip('/')}/s/{shop.slug}"


async def by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Shop]:
    """Shops by internal id in one query: a buyer's order list spans several shops."""
    if not ids:
        return {}
    found = await session.scalars(select(Shop).where(Shop.id.in_(ids)))
    return {shop.id: shop for shop in found}


async def get(session: AsyncSession, shop_id: int) -> Shop:
    """A shop by internal id, for other domains acting on one of its rows."""
    return await session.get_one(Shop, shop_id)


async def lock(session: AsyncSession, shop_id: int) -> None:
    """Hold the shop's row until the transaction ends: the lock under which its money
    changes (payments.balances.lock_shop)."""
    await session.execute(for_update(session, select(Shop.id).where(Shop.id == shop_id)))


async def payout_card(session: AsyncSession, shop: Shop) -> BankCard | None:
    """The bank card the shop's withdrawals go to: its owner's, bound when opening it."""
    return await session.scalar(select(BankCard).where(BankCard.user_id == shop.owner_id))
