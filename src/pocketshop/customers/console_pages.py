"""Console: the shop's customers (filters, export), one customer (their orders, where they
came from, tags, note, privileges), and privileges for a tag."""

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import spreadsheets
from pocketshop.attribution import service as attribution
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductStatus
from pocketshop.customers import export, privileges, service
from pocketshop.customers.models import Customer, PrivilegeKind, Tag
from pocketshop.customers.service import Filters, Sort
from pocketshop.errors import InvalidInput
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.orders import service as orders
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web import flash
from pocketshop.web.console import change_or_refuse, nav_context, parse_amount, redirect_done
from pocketshop.web.routing import Session, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/console")
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
Text = Annotated[str, Form(max_length=1000)]
OFFERED = 100  # products offered in a privilege's form: the newest on sale
PERCENT = re.compile(r"^\d{1,2}(?:\.\d{1,2})?$")

NOTICES = {
    "note_saved": N_("Note saved."),
    "tagged": N_("Tag added."),
    "untagged": N_("Tag removed."),
    "privilege_added": N_("Privilege added: checkout charges the special price."),
    "privilege_removed": N_("Privilege removed."),
}
SOURCE_LABELS = {
    "direct": N_("Direct"),
    "store": N_("Store"),
    "staff": N_("Staff"),
    "campaign": N_("Campaign link"),
    "share": N_("Customer's share"),
}


async def filters_of(
    q: Annotated[str, Query(max_length=60)] = "",
    tag: Annotated[str, Query(max_length=32)] = "",
    source: Annotated[str, Query(max_length=12)] = "",
    min_orders: Annotated[str, Query(max_length=7)] = "",
    sort: Annotated[str, Query(max_length=12)] = "",
) -> Filters:
    # Pages take whatever a hand-edited URL holds: what is not understood filters nothing.
    return Filters(
        query=q,
        tag=tag,
        source=source if source in SOURCE_LABELS else "",
        min_orders=int(min_orders) if min_orders.isascii() and min_orders.isdigit() else 0,
        sort=Sort(sort) if sort in Sort.__members__ else Sort.recent,
    )


ListFilters = Annotated[Filters, Depends(filters_of)]


def _notice(request: Request) -> str | None:
    key = request.query_params.get("done", "")
    return _(NOTICES[key]) if key in NOTICES else None


def parse_privilege(kind: str, value: str) -> tuple[str, int]:
    """A discount typed as percent off ("15" or "12.5"), or a fixed price in yuan."""
    if kind == PrivilegeKind.discount:
        typed = value.strip().rstrip("%")
        if not PERCENT.match(typed) or not 0 < float(typed) < 100:
            raise InvalidInput(
                _("Enter the discount as percent off, like 15."),
                code="invalid_discount",
                field="value",
            )
        whole, _dot, part = typed.partition(".")
        return kind, int(whole) * 100 + int((part + "00")[:2])
    if kind == PrivilegeKind.fixed_price:
        return kind, parse_amount(value)
    raise InvalidInput(_("Choose a discount or a fixed price."), code="invalid_kind", field="kind")


def parse_until(shop: Shop, typed: str) -> datetime | None:
    """The last day a privilege holds (empty: no end): until that day's end, in the shop's
    time zone."""
    if not typed.strip():
        return None
    try:
        day = date.fromisoformat(typed.strip())
    except ValueError:
        raise InvalidInput(
            _("Enter a date like 2026-12-31."), code="invalid_expiry", field="until"
        ) from None
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(shop.timezone))


@dataclass(frozen=True)
class PrivilegeTyped:
    product: str
    kind: str
    value: str
    until: str


async def privilege_typed(
    product: Text = "", kind: Text = "", value: Text = "", until: Text = ""
) -> PrivilegeTyped:
    return PrivilegeTyped(product, kind, value, until)


PrivilegeForm = Annotated[PrivilegeTyped, Depends(privilege_typed)]


async def _add_privilege(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    form: PrivilegeTyped,
    back: str,
    *,
    customer: Customer | None = None,
    tag: Tag | None = None,
) -> Response:
    """A privilege from the form, for a customer or a tag; refused, back to the form."""

    async def add() -> None:
        kind, value = parse_privilege(form.kind, form.value)
        await privileges.create(
            session,
            shop,
            product_id=form.product,
            kind=kind,
            value=value,
            customer=customer,
            tag=tag,
            expires_at=parse_until(shop, form.until),
        )

    return await change_or_refuse(
        request, session, add, back=back, done="privilege_added", typed=asdict(form)
    )


async def _privilege_form(session: AsyncSession, shop: Shop) -> dict[str, Any]:
    offered = await catalog.list_for_shop(
        session, shop, status=ProductStatus.on_sale, per_page=OFFERED
    )
    return {"products": offered.products, "fen": format_fen}


# --- the list ----------------------------------------------------------------------------------


@router.get("/customers")
async def customers_list(
    request: Request,
    session: Session,
    shop: ConsoleShop,
    filters: ListFilters,
    page: PageNumber = 1,
) -> Response:
    error, typed = flash.take(request)
    found = await service.page_of(session, shop, filters, page=page)
    tags = await service.tags(session, shop)
    current: Tag | None = next((tag for tag, _count in tags if tag.public_id == filters.tag), None)
    context: dict[str, Any] = {
        **await nav_context(session, shop, "customers"),
        **await _privilege_form(session, shop),
        "found": found,
        "filters": filters,
        "tags": tags,
        "current_tag": current,
        "tag_privileges": await privileges.of_shop(session, shop, tag=current) if current else [],
        "sources": {key: _(label) for key, label in SOURCE_LABELS.items()},
        "sorts": {
            Sort.recent: _("Latest order"),
            Sort.spent: _("Most spent"),
            Sort.orders: _("Most orders"),
        },
        "filter_query": urlencode(
            {
                key: value
                for key, value in {
                    "q": filters.query,
                    "tag": filters.tag,
                    "source": filters.source,
                    "min_orders": filters.min_orders or "",
                    "sort": filters.sort.value if filters.sort is not Sort.recent else "",
                }.items()
                if value
            }
        ),
        "typed": typed,
        "notice": None if error else _notice(request),
    }
    page_answer = render(request, "customers/console_customers.html", context, error=error)
    return flash.clear(request, page_answer)


@router.get("/customers.csv")
async def customers_csv(session: Session, shop: ConsoleShop, filters: ListFilters) -> Response:
    found = await export.table(session, shop, filters)
    return await spreadsheets.csv_response(found, f"{shop.slug}-customers")


@router.get("/customers.xlsx")
async def customers_xlsx(session: Session, shop: ConsoleShop, filters: ListFilters) -> Response:
    found = await export.table(session, shop, filters)
    return await spreadsheets.xlsx_response(found, export.title(), f"{shop.slug}-customers")


@router.post("/customer-tags/{tag_id}/privileges")
async def add_tag_privilege(
    tag_id: str, request: Request, session: Session, shop: ConsoleShop, form: PrivilegeForm
) -> Response:
    tag = await service.tag_or_404(session, shop, tag_id)
    back = f"/console/customers?tag={tag.public_id}#privileges"
    return await _add_privilege(request, session, shop, form, back, tag=tag)


@router.post("/privileges/{privilege_id}/remove")
async def remove_privilege(
    privilege_id: str,
    session: Session,
    shop: ConsoleShop,
    back: Annotated[str, Form(max_length=200)] = "/console/customers",
) -> Response:
    await privileges.remove(session, shop, privilege_id)
    # Back to the customer's or the tag's page the button was on; never off the console.
    target = back if back.startswith("/console/customers") else "/console/customers"
    return redirect_done(target, "privilege_removed")


# --- one customer ------------------------------------------------------------------------------


@router.get("/customers/{customer_id}")
async def customer_page(
    customer_id: str, request: Request, session: Session, shop: ConsoleShop
) -> Response:
    row = await service.get_or_404(session, shop, customer_id)
    error, typed = flash.take(request)
    customer = row.customer
    context: dict[str, Any] = {
        **await nav_context(session, shop, "customers"),
        **await _privilege_form(session, shop),
        "row": row,
        "customer": customer,
        "source": await attribution.describe(
            session,
            customer.source_kind,
            store_id=customer.source_store_id,
            staff_id=customer.source_staff_id,
            campaign_id=customer.source_campaign_id,
        ),
        "history": await service.orders_of(session, customer),
        "status_label": orders.label_of,
        "privileges": await privileges.of_shop(session, shop, customer=customer),
        "typed": typed,
        "notice": None if error else _notice(request),
        "note_max": service.NOTE_MAX,
        "tag_max": service.TAG_MAX,
    }
    page_answer = render(request, "customers/console_customer.html", context, error=error)
    return flash.clear(request, page_answer)


@router.post("/customers/{customer_id}/note")
async def save_note(
    customer_id: str, request: Request, session: Session, shop: ConsoleShop, note: Text = ""
) -> Response:
    row = await service.get_or_404(session, shop, customer_id)
    return await change_or_refuse(
        request,
        session,
        lambda: service.set_note(session, row.customer, note),
        back=f"/console/customers/{customer_id}#note",
        done="note_saved",
        typed={"note": note},
    )


@router.post("/customers/{customer_id}/tags")
async def add_tag(
    customer_id: str, request: Request, session: Session, shop: ConsoleShop, tag: Text = ""
) -> Response:
    row = await service.get_or_404(session, shop, customer_id)
    return await change_or_refuse(
        request,
        session,
        lambda: service.add_tag(session, shop, row.customer, tag),
        back=f"/console/customers/{customer_id}#tags",
        done="tagged",
        typed={"tag": tag},
    )


@router.post("/customers/{customer_id}/tags/{tag_id}/remove")
async def remove_tag(
    customer_id: str, tag_id: str, session: Session, shop: ConsoleShop
) -> Response:
    row = await service.get_or_404(session, shop, customer_id)
    tag = await service.tag_or_404(session, shop, tag_id)
    await service.remove_tag(session, row.customer, tag)
    return redirect_done(f"/console/customers/{customer_id}#tags", "untagged")


@router.post("/customers/{customer_id}/privileges")
async def add_privilege(
    customer_id: str, request: Request, session: Session, shop: ConsoleShop, form: PrivilegeForm
) -> Response:
    row = await service.get_or_404(session, shop, customer_id)
    back = f"/console/customers/{customer_id}#privileges"
    return await _add_privilege(request, session, shop, form, back, customer=row.customer)
