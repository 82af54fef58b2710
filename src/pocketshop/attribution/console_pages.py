"""Console: where sales come from. Offline stores and their staff, and campaign links, each
with its QR code to print or post and the paid orders it brought."""

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response

from pocketshop.attribution import service
from pocketshop.attribution.models import Campaign, StaffMember, Store
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductStatus
from pocketshop.config import Settings
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web import flash
from pocketshop.web.console import change_or_refuse, nav_context, redirect_done
from pocketshop.web.routing import AppSettings, Session, page_router
from pocketshop.web.storefront import absolute
from pocketshop.web.templating import render

router = page_router(prefix="/console")
Text = Annotated[str, Form(max_length=400)]
# The products a campaign link may lead to, offered in its form: the newest on sale.
TARGETS_OFFERED = 100

NOTICES = {
    "store_added": N_("Store added. Print its QR code for the counter."),
    "staff_added": N_("Staff member added: they have a QR code of their own."),
    "campaign_added": N_("Campaign link made. Share it or print its QR code."),
    "archived": N_("Archived: its code no longer brings new customers; its sales stay."),
    "restored": N_("Restored: its code brings new customers again."),
}


class Action(StrEnum):
    archive = "archive"
    restore = "restore"


def _notice(request: Request) -> str | None:
    key = request.query_params.get("done", "")
    return _(NOTICES[key]) if key in NOTICES else None


def _link(
    request: Request, settings: Settings, shop: Shop, source: Store | StaffMember | Campaign
) -> str:
    return absolute(request, service.link_path(settings, shop, source))


def _archived(action: Action) -> str:
    return "restored" if action is Action.restore else "archived"


# --- stores and campaign links -----------------------------------------------------------------


@router.get("/promote")
async def promote(
    request: Request, session: Session, settings: AppSettings, shop: ConsoleShop
) -> Response:
    error, typed = flash.take(request)
    store_sales = await service.sales_by_store(session, shop)
    campaign_sales = await service.sales_by_campaign(session, shop)
    links = await service.campaigns(session, shop)
    titles = await service.targets(session, links)
    offered = await catalog.list_for_shop(
        session, shop, status=ProductStatus.on_sale, per_page=TARGETS_OFFERED
    )
    context: dict[str, Any] = {
        **await nav_context(session, shop, "promote"),
        "fen": format_fen,
        "stores": [
            (store, store_sales.get(store.id, service.Sales()))
            for store in await service.stores(session, shop)
        ],
        "campaigns": [
            (
                campaign,
                campaign_sales.get(campaign.id, service.Sales()),
                _link(request, settings, shop, campaign),
                titles[campaign.product_id].title if campaign.product_id in titles else None,
            )
            for campaign in links
        ],
        "products": offered.products,
        "typed": typed,
        "notice": None if error else _notice(request),
        "name_max": service.NAME_MAX,
        "address_max": service.ADDRESS_MAX,
        "referral_days": settings.referral_days,
    }
    page = render(request, "attribution/console_promote.html", context, error=error)
    return flash.clear(request, page)


@router.post("/stores")
async def add_store(
    request: Request, session: Session, shop: ConsoleShop, name: Text = "", address: Text = ""
) -> Response:
    return await change_or_refuse(
        request,
        session,
        lambda: service.create_store(session, shop, name=name, address=address),
        back="/console/promote#stores",
        done="store_added",
        typed={"form": "store", "name": name, "address": address},
    )


@router.post("/campaigns")
async def add_campaign(
    request: Request, session: Session, shop: ConsoleShop, label: Text = "", product: Text = ""
) -> Response:
    return await change_or_refuse(
        request,
        session,
        lambda: service.create_campaign(session, shop, label=label, product_id=product),
        back="/console/promote#campaigns",
        done="campaign_added",
        typed={"form": "campaign", "label": label, "product": product},
    )


@router.post("/campaigns/{campaign_id}/{action}")
async def archive_campaign(
    campaign_id: str, action: Action, session: Session, shop: ConsoleShop
) -> Response:
    campaign = await service.campaign_or_404(session, shop, campaign_id)
    await service.change_campaign(session, campaign, active=action is Action.restore)
    return redirect_done("/console/promote#campaigns", _archived(action))


# --- one store and its staff -------------------------------------------------------------------


@router.get("/stores/{store_id}")
async def store_page(
    store_id: str, request: Request, session: Session, settings: AppSettings, shop: ConsoleShop
) -> Response:
    store = await service.store_or_404(session, shop, store_id)
    error, typed = flash.take(request)
    staff_sales = await service.sales_by_staff(session, shop)
    context: dict[str, Any] = {
        **await nav_context(session, shop, "promote"),
        "fen": format_fen,
        "store": store,
        "store_link": _link(request, settings, shop, store),
        "sales": (await service.sales_by_store(session, shop)).get(store.id, service.Sales()),
        "staff": [
            (
                member,
                staff_sales.get(member.id, service.Sales()),
                _link(request, settings, shop, member),
            )
            for member in await service.staff(session, shop, store)
        ],
        "typed": typed,
        "notice": None if error else _notice(request),
        "name_max": service.NAME_MAX,
    }
    page = render(request, "attribution/console_store.html", context, error=error)
    return flash.clear(request, page)


@router.post("/stores/{store_id}/staff")
async def add_staff(
    store_id: str,
    request: Request,
    session: Session,
    shop: ConsoleShop,
    name: Text = "",
    phone: Text = "",
) -> Response:
    store = await service.store_or_404(session, shop, store_id)
    return await change_or_refuse(
        request,
        session,
        lambda: service.add_staff(session, shop, store, name=name, phone=phone),
        back=f"/console/stores/{store.public_id}#staff",
        done="staff_added",
        typed={"name": name, "phone": phone},
    )


@router.post("/stores/{store_id}/{action}")
async def archive_store(
    store_id: str, action: Action, session: Session, shop: ConsoleShop
) -> Response:
    store = await service.store_or_404(session, shop, store_id)
    await service.change_store(session, store, active=action is Action.restore)
    return redirect_done(f"/console/stores/{store.public_id}", _archived(action))


@router.post("/staff/{staff_id}/{action}")
async def archive_staff(
    staff_id: str, action: Action, session: Session, shop: ConsoleShop
) -> Response:
    member = await service.staff_or_404(session, shop, staff_id)
    await service.change_staff(session, member, active=action is Action.restore)
    store = await service.store_for(session, member)
    return redirect_done(f"/console/stores/{store.public_id}#staff", _archived(action))
