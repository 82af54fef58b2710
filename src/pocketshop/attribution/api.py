"""The merchant's stores, staff and campaign links through the API (`/me/shop/…`)."""

from collections.abc import Mapping

from fastapi import Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.attribution import service
from pocketshop.attribution.models import Campaign, StaffMember, Store
from pocketshop.attribution.schemas import (
    CampaignChange,
    CampaignIn,
    CampaignOut,
    SalesOut,
    StaffChange,
    StaffIn,
    StaffOut,
    StoreChange,
    StoreIn,
    StoreOut,
)
from pocketshop.config import Settings
from pocketshop.shops.deps import MerchantShop
from pocketshop.shops.models import Shop
from pocketshop.web.routing import AppSettings, Session, api_router
from pocketshop.web.storefront import absolute

router = api_router(prefix="/api/v1/me/shop", tags=["promotion"])


def _sales(sales: Mapping[int, service.Sales], key: int) -> SalesOut:
    found = sales.get(key, service.Sales())
    return SalesOut(orders=found.orders, total=found.total)


def _link(
    request: Request, settings: Settings, shop: Shop, source: Store | StaffMember | Campaign
) -> str:
    return absolute(request, service.link_path(settings, shop, source))


async def _stores_out(
    request: Request, session: AsyncSession, settings: Settings, shop: Shop, stores: list[Store]
) -> list[StoreOut]:
    sales = await service.sales_by_store(session, shop)
    return [
        StoreOut(
            id=store.public_id,
            name=store.name,
            address=store.address,
            active=store.active,
            link=_link(request, settings, shop, store),
            sales=_sales(sales, store.id),
            created_at=store.created_at,
        )
        for store in stores
    ]


async def _staff_out(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    store: Store,
    members: list[StaffMember],
) -> list[StaffOut]:
    sales = await service.sales_by_staff(session, shop)
    return [
        StaffOut(
            id=member.public_id,
            store_id=store.public_id,
            name=member.name,
            phone=member.phone,
            active=member.active,
            link=_link(request, settings, shop, member),
            sales=_sales(sales, member.id),
            created_at=member.created_at,
        )
        for member in members
    ]


async def _campaigns_out(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    links: list[Campaign],
) -> list[CampaignOut]:
    sales = await service.sales_by_campaign(session, shop)
    products = await service.targets(session, links)
    return [
        CampaignOut(
            id=link.public_id,
            label=link.label,
            product_id=products[link.product_id].public_id if link.product_id in products else None,
            active=link.active,
            link=_link(request, settings, shop, link),
            visits=link.visits,
            sales=_sales(sales, link.id),
            created_at=link.created_at,
        )
        for link in links
    ]


# --- stores ------------------------------------------------------------------------------------


@router.get("/stores")
async def list_stores(
    request: Request, session: Session, settings: AppSettings, shop: MerchantShop
) -> list[StoreOut]:
    """The shop's offline stores, with the paid orders each brought (its staff's included)."""
    return await _stores_out(request, session, settings, shop, await service.stores(session, shop))


@router.post("/stores", status_code=status.HTTP_201_CREATED)
async def create_store(
    body: StoreIn, request: Request, session: Session, settings: AppSettings, shop: MerchantShop
) -> StoreOut:
    store = await service.create_store(session, shop, name=body.name, address=body.address)
    return (await _stores_out(request, session, settings, shop, [store]))[0]


@router.patch("/stores/{store_id}")
async def change_store(
    store_id: str,
    body: StoreChange,
    request: Request,
    session: Session,
    settings: AppSettings,
    shop: MerchantShop,
) -> StoreOut:
    store = await service.store_or_404(session, shop, store_id)
    await service.change_store(
        session, store, name=body.name, address=body.address, active=body.active
    )
    return (await _stores_out(request, session, settings, shop, [store]))[0]


# --- staff -------------------------------------------------------------------------------------


@router.get("/stores/{store_id}/staff")
async def list_staff(
    store_id: str, request: Request, session: Session, settings: AppSettings, shop: MerchantShop
) -> list[StaffOut]:
    store = await service.store_or_404(session, shop, store_id)
    members = await service.staff(session, shop, store)
    return await _staff_out(request, session, settings, shop, store, members)


@router.post("/stores/{store_id}/staff", status_code=status.HTTP_201_CREATED)
async def add_staff(
    store_id: str,
    body: StaffIn,
    request: Request,
    session: Session,
    settings: AppSettings,
    shop: MerchantShop,
) -> StaffOut:
    store = await service.store_or_404(session, shop, store_id)
    member = await service.add_staff(session, shop, store, name=body.name, phone=body.phone)
    return (await _staff_out(request, session, settings, shop, store, [member]))[0]


@router.patch("/staff/{staff_id}")
async def change_staff(
    staff_id: str,
    body: StaffChange,
    request: Request,
    session: Session,
    settings: AppSettings,
    shop: MerchantShop,
) -> StaffOut:
    member = await service.staff_or_404(session, shop, staff_id)
    await service.change_staff(
        session, member, name=body.name, phone=body.phone, active=body.active
    )
    store = await service.store_for(session, member)
    return (await _staff_out(request, session, settings, shop, store, [member]))[0]


# --- campaign links ----------------------------------------------------------------------------


@router.get("/campaigns")
async def list_campaigns(
    request: Request, session: Session, settings: AppSettings, shop: MerchantShop
) -> list[CampaignOut]:
    """Campaign links, newest first, with their visits and the paid orders they brought."""
    links = await service.campaigns(session, shop)
    return await _campaigns_out(request, session, settings, shop, links)


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
async def create_campaign(
    body: CampaignIn,
    request: Request,
    session: Session,
    settings: AppSettings,
    shop: MerchantShop,
) -> CampaignOut:
    link = await service.create_campaign(
        session, shop, label=body.label, product_id=body.product_id
    )
    return (await _campaigns_out(request, session, settings, shop, [link]))[0]


@router.patch("/campaigns/{campaign_id}")
async def change_campaign(
    campaign_id: str,
    body: CampaignChange,
    request: Request,
    session: Session,
    settings: AppSettings,
    shop: MerchantShop,
) -> CampaignOut:
    link = await service.campaign_or_404(session, shop, campaign_id)
    await service.change_campaign(session, link, label=body.label, active=body.active)
    return (await _campaigns_out(request, session, settings, shop, [link]))[0]
