"""Attribution: which source a buyer is bound to in a shop, and so which source their orders
are placed through.

A buyer who follows an attributed link (`tokens`) is bound to its source for
`referral_days`; inside that time the first binding wins and later links change nothing;
after it, the next link binds anew. Nobody is their own source: not the shop's owner, not a
customer following their own shared link, not a staff member (by phone) their own code. A
source that was archived, or is not the shop's, binds no one. Orders copy the binding that
holds when they are placed (`referral_of`), so a later change never moves a past sale.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, db
from pocketshop.accounts.models import User
from pocketshop.attribution.models import Binding, Campaign, SourceKind, StaffMember, Store
from pocketshop.config import Settings
from pocketshop.shops.models import Shop


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    store_id: int | None = None
    staff_id: int | None = None
    campaign_id: int | None = None
    sharer_id: int | None = None
    staff_phone: str = ""  # a staff member is not their own source


async def resolve(
    session: AsyncSession, shop: Shop, kind: SourceKind, ref_id: int
) -> Source | None:
    """The source a link names, if it is this shop's and still in use."""
    if kind is SourceKind.store:
        store = await session.get(Store, ref_id)
        if store is not None and store.shop_id == shop.id and store.active:
            return Source(kind, store_id=store.id)
    elif kind is SourceKind.staff:
        member = await session.get(StaffMember, ref_id)
        if member is not None and member.shop_id == shop.id and member.active:
            store = await session.get(Store, member.store_id)
            if store is not None and store.active:
                return Source(kind, store_id=store.id, staff_id=member.id, staff_phone=member.phone)
    elif kind is SourceKind.campaign:
        campaign = await session.get(Campaign, ref_id)
        if campaign is not None and campaign.shop_id == shop.id and campaign.active:
            return Source(kind, campaign_id=campaign.id)
    elif await session.get(User, ref_id) is not None:  # a customer's share
        return Source(kind, sharer_id=ref_id)
    return None


def is_own(shop: Shop, buyer: User, source: Source) -> bool:
    return (
        buyer.id == shop.owner_id
        or source.sharer_id == buyer.id
        or (bool(source.staff_phone) and source.staff_phone == buyer.phone)
    )


async def bind(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    buyer: User,
    source: Source,
    *,
    at: datetime | None = None,
) -> bool:
    """Bind the buyer to `source` from `at` (now by default; a guest's landing, when they log
    in later), unless they are their own source or a binding of theirs still holds. Whether
    this source is now theirs."""
    now = clock.now()
    start = at or now
    expires_at = start + timedelta(days=settings.referral_days)
    if expires_at <= now or is_own(shop, buyer, source):
        return False
    row = {
        "shop_id": shop.id,
        "buyer_id": buyer.id,
        "kind": source.kind.value,
        "store_id": source.store_id,
        "staff_id": source.staff_id,
        "campaign_id": source.campaign_id,
        "sharer_id": source.sharer_id,
        "bound_at": start,
        "expires_at": expires_at,
    }
    table = db.table_of(Binding)
    if await session.scalar(db.insert_new(session, table), db.new_row(table, row)) is not None:
        return True
    # Theirs already: replaced only once it has run out, in one statement, so that of two
    # links followed at once exactly one wins.
    replaced = await session.execute(
        update(Binding)
        .where(Binding.shop_id == shop.id, Binding.buyer_id == buyer.id, Binding.expires_at <= now)
        .values(**row)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(replaced, "rowcount", 0) == 1)


# Built once: every checkout reads it, and building it cost more than running it.
_HOLDING = select(Binding).where(
    Binding.shop_id == bindparam("shop_id"),
    Binding.buyer_id == bindparam("buyer_id"),
    Binding.expires_at > bindparam("now"),
)


async def binding_of(session: AsyncSession, shop_id: int, buyer_id: int) -> Binding | None:
    """The buyer's binding in the shop that holds now, if any."""
    binding: Binding | None = await session.scalar(
        _HOLDING, {"shop_id": shop_id, "buyer_id": buyer_id, "now": clock.now()}
    )
    return binding


async def referral_of(session: AsyncSession, shop_id: int, buyer_id: int) -> dict[str, Any]:
    """The order columns that say where an order the buyer places now came from."""
    binding = await binding_of(session, shop_id, buyer_id)
    return {
        f"referral_{name}": getattr(binding, name) if binding is not None else None
        for name in ("kind", "store_id", "staff_id", "campaign_id", "sharer_id")
    }


async def move_buyer(session: AsyncSession, from_id: int, into_id: int) -> None:
    """One person's two accounts become one (a phone bound to a WeChat sign-in): the bindings
    of `from_id` in shops where `into_id` has none become theirs, and links `from_id` shared
    count for `into_id`. Bindings left behind go with the account."""
    theirs = select(Binding.shop_id).where(Binding.buyer_id == into_id).scalar_subquery()
    await session.execute(
        update(Binding)
        .where(Binding.buyer_id == from_id, Binding.shop_id.not_in(theirs))
        .values(buyer_id=into_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Binding)
        .where(Binding.sharer_id == from_id)
        .values(sharer_id=into_id)
        .execution_options(synchronize_session=False)
    )
