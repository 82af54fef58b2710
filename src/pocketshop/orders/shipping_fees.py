"""Per-shop shipping fee rules: free, a flat fee, or a flat fee waived above an items total;
and by region: provinces that pay an extra fee (always added, even when shipping is otherwise
free: remote areas cost the shop more) and provinces the shop does not deliver to."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock, regions
from pocketshop.db import table_of
from pocketshop.errors import Conflict, InvalidInput
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.orders import addresses
from pocketshop.orders.models import Address, ShippingRule
from pocketshop.shops.models import Shop

FEE_MAX = 100_000  # ¥1,000
THRESHOLD_MAX = 10**8


class RuleKind(StrEnum):
    free = "free"
    flat = "flat"
    free_above = "free_above"


RULE_LABELS = {
    RuleKind.free: N_("Free shipping"),
    RuleKind.flat: N_("Flat fee"),
    RuleKind.free_above: N_("Flat fee, free above an amount"),
}


@dataclass(frozen=True)
class Terms:
    """A shop's shipping rule as checkout and pages use it."""

    kind: str
    fee: int
    free_above: int | None
    extra: tuple[tuple[str, int], ...] = ()  # (province adcode, fen), by code
    no_delivery: tuple[str, ...] = ()  # province adcodes

    def extra_for(self, province_code: str | None) -> int:
        return dict(self.extra).get(province_code or "", 0)


FREE = Terms(kind=RuleKind.free.value, fee=0, free_above=None)


def _regional(raw: str | None) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
    if not raw:
        return (), ()
    data = json.loads(raw)
    extra = tuple(sorted((str(code), int(fen)) for code, fen in data.get("extra", {}).items()))
    return extra, tuple(sorted(str(code) for code in data.get("none", [])))


def _terms(kind: str, fee: int, free_above: int | None, regional: str | None) -> Terms:
    extra, none = _regional(regional)
    return Terms(kind, fee, free_above, extra, none)


_rules = table_of(ShippingRule).c
# Core and built once: every checkout and product page reads it.
_TERMS_OF_SHOP = select(_rules.kind, _rules.fee, _rules.free_above, _rules.regional).where(
    _rules.shop_id == bindparam("shop_id")
)


async def rule_for(session: AsyncSession, shop: Shop) -> Terms:
    """The shop's rule; shops that set none ship for free. Kept in the cache until the shop
    changes it (`set_rule` drops the shop's tag)."""

    async def read() -> tuple[Terms, list[str]]:
        row = (await session.execute(_TERMS_OF_SHOP, {"shop_id": shop.id})).first()
        terms = FREE if row is None else _terms(row.kind, row.fee, row.free_above, row.regional)
        return terms, [cache.shop_tag(shop.id)]

    return await cache.read_through(session, ("shipping-terms", shop.id), read) or FREE


def fee(rule: Terms, items_total: int) -> int:
    kind = RuleKind(rule.kind)
    if kind is RuleKind.free:
        return 0
    if (
        kind is RuleKind.free_above
        and rule.free_above is not None
        and items_total >= rule.free_above
    ):
        return 0
    return rule.fee


def fee_to(rule: Terms, items_total: int, province_code: str | None) -> int:
    """The fee for an order delivered to a province: the rule's fee plus the province's extra
    fee; a 409 `no_delivery_to_region` if the shop does not deliver there."""
    if province_code and province_code in rule.no_delivery:
        raise Conflict(
            _(
                "This shop does not deliver to %(region)s. Choose another address.",
                region=regions.name_of(province_code) or province_code,
            ),
            code="no_delivery_to_region",
            field="address",
        )
    return fee(rule, items_total) + rule.extra_for(province_code)


def fees_to(rule: Terms, items_total: int, book: Sequence[Address]) -> dict[str, int | None]:
    """The fee to each of a buyer's addresses (None: not delivered there)."""
    fees: dict[str, int | None] = {}
    for address in book:
        province = addresses.province_code_of(address)
        fees[address.public_id] = (
            None
            if province in rule.no_delivery
            else fee(rule, items_total) + rule.extra_for(province)
        )
    return fees


def address_notes(rule: Terms, book: Sequence[Address]) -> dict[str, str]:
    """What a buyer choosing among their addresses should know of this shop's regions: an
    address it does not deliver to, or one that costs extra to ship to."""
    notes = {}
    for address in book:
        province = addresses.province_code_of(address)
        if province in rule.no_delivery:
            notes[address.public_id] = _("This shop does not deliver here.")
        elif extra := rule.extra_for(province):
            notes[address.public_id] = _(
                "Shipping here costs %(amount)s more.", amount=format_fen(extra)
            )
    return notes


async def set_rule(
    session: AsyncSession,
    shop: Shop,
    *,
    kind: RuleKind,
    fee: int = 0,
    free_above: int | None = None,
) -> Terms:
    if kind is RuleKind.free:
        fee, free_above = 0, None
    elif not 1 <= fee <= FEE_MAX:
        raise InvalidInput(
            _("The shipping fee must be between ¥0.01 and ¥1,000."), code="invalid_fee", field="fee"
        )
    if kind is RuleKind.flat:
        free_above = None
    if kind is RuleKind.free_above and (free_above is None or not 1 <= free_above <= THRESHOLD_MAX):
        raise InvalidInput(
            _("Enter the order amount above which shipping is free."),
            code="invalid_threshold",
            field="free_above",
        )
    rule = await session.scalar(select(ShippingRule).where(ShippingRule.shop_id == shop.id))
    if rule is None:
        rule = ShippingRule(shop_id=shop.id)
        session.add(rule)
    rule.kind = kind.value
    rule.fee = fee
    rule.free_above = free_above
    rule.updated_at = clock.now()
    await session.flush()
    cache.invalidate(session, cache.shop_tag(shop.id))  # pages show the shipping terms
    return _terms(rule.kind, rule.fee, rule.free_above, rule.regional)


async def set_regions(
    session: AsyncSession, shop: Shop, *, extra: dict[str, int], no_delivery: list[str]
) -> Terms:
    """Replace the shop's regional terms: an extra fee (fen) per province, and the provinces
    it does not deliver to. Codes are province adcodes; a province is in one list at most."""
    for code, amount in extra.items():
        if not regions.is_province(code):
            raise InvalidInput(
                _("Choose provinces from the list."), code="invalid_region", field="extra"
            )
        if not 1 <= amount <= FEE_MAX:
            raise InvalidInput(
                _("An extra fee must be between ¥0.01 and ¥1,000."),
                code="invalid_fee",
                field="extra",
            )
    none = sorted(set(no_delivery))
    if not all(regions.is_province(code) for code in none):
        raise InvalidInput(
            _("Choose provinces from the list."), code="invalid_region", field="no_delivery"
        )
    both = [code for code in none if code in extra]
    if both:
        raise InvalidInput(
            _(
                "%(region)s cannot both pay an extra fee and have no delivery.",
                region=regions.name_of(both[0]) or both[0],
            ),
            code="invalid_region",
            field="no_delivery",
        )
    rule = await session.scalar(select(ShippingRule).where(ShippingRule.shop_id == shop.id))
    if rule is None:
        rule = ShippingRule(shop_id=shop.id, kind=RuleKind.free.value, fee=0, free_above=None)
        session.add(rule)
    rule.regional = (
        json.dumps({"extra": dict(sorted(extra.items())), "none": none}) if extra or none else None
    )
    rule.updated_at = clock.now()
    await session.flush()
    cache.invalidate(session, cache.shop_tag(shop.id))
    return _terms(rule.kind, rule.fee, rule.free_above, rule.regional)


def describe(rule: Terms) -> str:
    kind = RuleKind(rule.kind)
    if kind is RuleKind.free:
        return _("Free shipping")
    if kind is RuleKind.flat:
        return _("Shipping %(fee)s", fee=format_fen(rule.fee))
    return _(
        "Shipping %(fee)s, free from %(threshold)s",
        fee=format_fen(rule.fee),
        threshold=format_fen(rule.free_above or 0),
    )
