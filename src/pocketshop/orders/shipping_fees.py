"""Per-shop shipping fee rules: free, a flat fee, or a flat fee waived above an items total."""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.db import table_of
from pocketshop.errors import InvalidInput
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.orders.models import ShippingRule
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


FREE = Terms(kind=RuleKind.free.value, fee=0, free_above=None)

_rules = table_of(ShippingRule).c
# Core and built once: every checkout and product page reads it.
_TERMS_OF_SHOP = select(_rules.kind, _rules.fee, _rules.free_above).where(
    _rules.shop_id == bindparam("shop_id")
)


async def rule_for(session: AsyncSession, shop: Shop) -> Terms:
    """The shop's rule; shops that set none ship for free. Kept in the cache until the shop
    changes it (`set_rule` drops the shop's tag)."""

    async def read() -> tuple[Terms, list[str]]:
        row = (await session.execute(_TERMS_OF_SHOP, {"shop_id": shop.id})).first()
        terms = FREE if row is None else Terms(row.kind, row.fee, row.free_above)
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
    return Terms(kind=rule.kind, fee=rule.fee, free_above=rule.free_above)


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
