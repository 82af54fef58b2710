"""A shop's own product groups (ordered shelves) and the platform's category tree."""

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.catalog.models import PlatformCategory, Product, ProductGroup
from pocketshop.errors import Conflict, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line, fold, too_long

GROUP_NAME_MAX = 20
MAX_GROUPS = 50


async def list_groups(session: AsyncSession, shop: Shop) -> list[ProductGroup]:
    return list(
        await session.scalars(
            select(ProductGroup)
            .where(ProductGroup.shop_id == shop.id)
            .order_by(ProductGroup.position, ProductGroup.id)
        )
    )


def _validate_group_name(name: str) -> str:
    cleaned = clean_line(name)
    if not cleaned or too_long(cleaned, GROUP_NAME_MAX):
        raise InvalidInput(
            _("A group name needs 1 to %(max)s characters.", max=GROUP_NAME_MAX),
            code="invalid_group_name",
            field="name",
        )
    return cleaned


async def create_group(session: AsyncSession, shop: Shop, name: str) -> ProductGroup:
    cleaned = _validate_group_name(name)
    groups = await list_groups(session, shop)
    if len(groups) >= MAX_GROUPS:
        raise Conflict(
            _("A shop can have at most %(max)s groups.", max=MAX_GROUPS), code="too_many_groups"
        )
    if any(fold(group.name) == fold(cleaned) for group in groups):
        raise Conflict(_("A group with this name exists."), code="group_exists")
    group = ProductGroup(
        shop_id=shop.id,
        name=cleaned,
        position=max((g.position for g in groups), default=-1) + 1,
        created_at=clock.now(),
    )
    session.add(group)
    await session.flush()
    cache.invalidate(session, cache.shop_tag(shop.id))
    return group


async def get_group_or_404(session: AsyncSession, shop: Shop, public_id: str) -> ProductGroup:
    group = await session.scalar(
        select(ProductGroup).where(
            ProductGroup.public_id == public_id, ProductGroup.shop_id == shop.id
        )
    )
    if group is None:
        raise NotFound(_("No such group in your shop."), code="group_not_found")
    return group


async def rename_group(
    session: AsyncSession, shop: Shop, public_id: str, name: str
) -> ProductGroup:
    group = await get_group_or_404(session, shop, public_id)
    cleaned = _validate_group_name(name)
    for other in await list_groups(session, shop):
        if other.id != group.id and fold(other.name) == fold(cleaned):
            raise Conflict(_("A group with this name exists."), code="group_exists")
    group.name = cleaned
    await session.flush()
    cache.invalidate(session, cache.shop_tag(shop.id))
    return group


async def delete_group(session: AsyncSession, shop: Shop, public_id: str) -> None:
    """Products in the group stay, ungrouped."""
    group = await get_group_or_404(session, shop, public_id)
    await session.execute(update(Product).where(Product.group_id == group.id).values(group_id=None))
    await session.delete(group)
    await session.flush()
    cache.invalidate(session, cache.shop_tag(shop.id))


async def reorder_groups(session: AsyncSession, shop: Shop, public_ids: list[str]) -> None:
    groups = {group.public_id: group for group in await list_groups(session, shop)}
    if sorted(public_ids) != sorted(groups):
        raise InvalidInput(
            _("List each of your groups exactly once."), code="invalid_order", field="groups"
        )
    for position, public_id in enumerate(public_ids):
        groups[public_id].position = position
    await session.flush()
    cache.invalidate(session, cache.shop_tag(shop.id))


async def category_tree(session: AsyncSession) -> list[PlatformCategory]:
    return list(
        await session.scalars(
            select(PlatformCategory).order_by(
                PlatformCategory.parent_id.is_not(None),
                PlatformCategory.position,
                PlatformCategory.id,
            )
        )
    )


async def category_id_of(session: AsyncSession, code: str | None) -> int | None:
    if not code:
        return None
    found = await session.scalar(select(PlatformCategory.id).where(PlatformCategory.code == code))
    if found is None:
        raise InvalidInput(_("Choose a category from the list."), code="invalid_category")
    return found


async def group_id_of(session: AsyncSession, shop: Shop, public_id: str | None) -> int | None:
    if not public_id:
        return None
    return (await get_group_or_404(session, shop, public_id)).id
