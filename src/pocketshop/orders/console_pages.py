"""The merchant's orders in the console: the list with status tabs, search and CSV export, the
live new-orders badge, an order's detail with the ship and cancel forms, and shipping fees.

A refused form re-renders with the message and what was typed; a savepoint drops whatever the
service flushed before refusing, since the request's transaction still commits.
"""

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import i18n, media, regions
from pocketshop.aftersales import display as aftersales
from pocketshop.attribution import service as attribution
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput
from pocketshop.guessing.deps import LimitMisses
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen, parse_yuan, yuan_text
from pocketshop.orders import actions, export, queries, service, shipping, shipping_fees
from pocketshop.orders.service import AWAITING_SHIPMENT, Actor, CloseReason, OrderStatus
from pocketshop.orders.shipping_fees import RuleKind
from pocketshop.payments import service as payments
from pocketshop.payments.providers import label as payment_label
from pocketshop.payments.states import refund_status
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web.console import nav_context, parse_amount, parse_count, redirect_done
from pocketshop.web.routing import AppSettings, Session, get_settings, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/console")

PageNumber = Annotated[int, Query(ge=1, le=10_000)]
TabParam = Annotated[str, Query(alias="status", max_length=20)]
SearchText = Annotated[str, Query(max_length=40)]
LINES_SHOWN = 3

TABS: dict[str, tuple[str, service.StatusFilter]] = {
    "all": (N_("All"), None),
    "pending_payment": (N_("Awaiting payment"), OrderStatus.pending_payment),
    "to_ship": (N_("To ship"), AWAITING_SHIPMENT),
    "shipped": (N_("Shipped"), OrderStatus.shipped),
    "completed": (N_("Completed"), OrderStatus.completed),
    "closed": (N_("Closed"), OrderStatus.closed),
}
ACTOR_LABELS = {
    Actor.buyer: N_("Buyer"),
    Actor.merchant: N_("You"),
    Actor.system: N_("System"),
}
REASON_LABELS = {
    **{reason.value: label for reason, label in service.CLOSE_REASON_LABELS.items()},
    "buyer_confirmed": N_("The buyer confirmed receipt"),
    "auto_confirmed": N_("Receipt confirmed automatically"),
}
NOTICES = {
    "shipped": N_("Package sent. The buyer can follow it now."),
    "cancelled": N_("Order cancelled; its stock is back on sale."),
    "shipping": N_("Shipping fees saved."),
    "regions": N_("Delivery by region saved."),
    "refunded": N_("Refund sent. The buyer gets the money back through how they paid."),
}


def notice_text(key: str | None, error: AppError | None) -> str | None:
    """The confirmation a redirect asked for (`?done=`), unless the page shows an error."""
    message = NOTICES.get(key or "")
    return _(message) if message and error is None else None


def tab_of(value: str) -> str:
    return value if value in TABS else "all"


# --- orders list ------------------------------------------------------------------------------


@router.get("/orders")
async def orders_list(
    request: Request,
    session: Session,
    shop: ConsoleShop,
    tab: TabParam = "all",
    q: SearchText = "",
    page: PageNumber = 1,
) -> Response:
    tab = tab_of(tab)
    found = await queries.list_for_shop(session, shop, status=TABS[tab][1], query=q, page=page)
    lines = await service.lines_by_order(session, found.orders)
    counts = await queries.status_counts(session, shop)
    to_ship = sum(counts.get(status.value, 0) for status in AWAITING_SHIPMENT)
    tab_counts = {
        "all": sum(counts.values()),
        "to_ship": to_ship,
        **{
            key: counts.get(key, 0) for key in ("pending_payment", "shipped", "completed", "closed")
        },
    }
    cards = [
        {
            "order": order,
            "status_label": service.label_of(order),
            "lines": lines[order.id][:LINES_SHOWN],
            "more": max(len(lines[order.id]) - LINES_SHOWN, 0),
            "total": format_fen(order.total),
        }
        for order in found.orders
    ]
    return render(
        request,
        "orders/console_orders.html",
        {
            **await nav_context(session, shop, "orders", to_ship=to_ship),
            "tabs": [(key, _(label), tab_counts[key]) for key, (label, _s) in TABS.items()],
            "tab": tab,
            "q": q,
            "cards": cards,
            "page": found.page,
            "has_next": found.has_next,
            "newest": await queries.newest_number(session, shop) or "",
        },
    )


@router.get("/orders.csv")
async def orders_csv(
    session: Session, shop: ConsoleShop, tab: TabParam = "all", q: SearchText = ""
) -> Response:
    return await export.csv_response(session, shop, status=TABS[tab_of(tab)][1], query=q)


@router.get("/orders.xlsx")
async def orders_xlsx(
    session: Session, shop: ConsoleShop, tab: TabParam = "all", q: SearchText = ""
) -> Response:
    return await export.xlsx_response(session, shop, status=TABS[tab_of(tab)][1], query=q)


@router.get("/orders/updates")
async def order_updates(
    session: Session,
    shop: ConsoleShop,
    after: Annotated[str | None, Query(max_length=24)] = None,
) -> JSONResponse:
    """Polled by console.js: orders placed after `after` (every order when it is empty, as on
    a list that showed none), and how many await shipment."""
    new = await queries.newer_than(session, shop, after or None) if after is not None else []
    return JSONResponse(
        {
            "count": len(new),
            "label": i18n.ngettext(
                "%(num)s new order — tap to refresh",
                "%(num)s new orders — tap to refresh",
                len(new),
            ),
            "orders": [{"number": order.number, "total": format_fen(order.total)} for order in new],
            "to_ship": await queries.awaiting_shipment_count(session, shop),
        },
        headers={"Cache-Control": "no-store"},
    )


# --- one order --------------------------------------------------------------------------------


async def order_page(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    number: str,
    *,
    error: AppError | None = None,
    typed: dict[str, str] | None = None,
    refund_typed: dict[str, str] | None = None,
) -> Response:
    order = await service.get_for_shop_or_404(session, shop, number)
    settings = get_settings(request)
    lines = await service.lines_of(session, order)
    events = [
        {
            "event": event,
            "label": service.label_of(order, event.to_status),
            "actor": _(ACTOR_LABELS[Actor(event.actor)]),
            "reason": _(REASON_LABELS[event.reason]) if event.reason in REASON_LABELS else "",
        }
        for event in await service.events_of(session, order)
    ]
    shipments = [
        {
            "shipment": view.shipment,
            "carrier": shipping.carrier_name(view.shipment.carrier),
            "lines": view.lines,
        }
        for view in await shipping.shipments_of(session, order)
    ]
    close_reason = (
        _(service.CLOSE_REASON_LABELS[CloseReason(order.close_reason)])
        if order.close_reason
        else ""
    )
    notice = request.query_params.get("done", "")
    return render(
        request,
        "orders/console_order.html",
        {
            **await nav_context(session, shop, "orders"),
            "order": order,
            "status_label": service.label_of(order),
            "close_reason": close_reason,
            "lines": [
                {
                    "line": line,
                    "image": media.url(line.image_key) if line.image_key else None,
                    "remaining": service.unshipped(line),
                }
                for line in lines
            ],
            "events": events,
            "shipments": shipments,
            "aftersales": await aftersales.on_order(session, order, lines),
            "came_through": await attribution.came_through(session, order),
            "can_ship": service.may(order, OrderStatus.shipped, Actor.merchant),
            "money_held": await payments.order_money(session, settings, order),
            "fee_rate": f"{settings.platform_fee_bps / 100:g}%",
            "provider_label": payment_label,
            "refund_status": refund_status,
            "refund_typed": refund_typed or {},
            "can_cancel": service.may(order, OrderStatus.closed, Actor.merchant),
            "carriers": shipping.carriers(),
            "typed": typed or {},
            "money": format_fen,
            "yuan": yuan_text,
            "notice": notice_text(notice, error),
        },
        error=error,
    )


@router.get("/orders/{number}", dependencies=[LimitMisses])
async def order_detail(
    number: str, request: Request, session: Session, shop: ConsoleShop
) -> Response:
    return await order_page(request, session, shop, number)


@router.post("/orders/{number}/ship", dependencies=[LimitMisses])
async def ship_order(
    number: str, request: Request, session: Session, settings: AppSettings, shop: ConsoleShop
) -> Response:
    order = await service.get_for_shop_or_404(session, shop, number)
    submitted = await request.form()
    typed = {key: value for key, value in submitted.items() if isinstance(value, str)}
    try:
        async with attempt(session):
            lines = []
            for line in await service.lines_of(session, order):
                text = typed.get(f"qty_{line.public_id}", "").strip()
                quantity = (
                    parse_count(
                        text,
                        message=_(
                            "Enter how many of “%(title)s” go in this package.", title=line.title
                        ),
                        field_name="lines",
                    )
                    if text
                    else 0
                )
                if quantity:
                    lines.append(shipping.ShipLine(line.public_id, quantity))
            if not lines:
                raise InvalidInput(
                    _("Choose at least one item for this package."), code="nothing_to_ship"
                )
            async with attempt(session):
                await shipping.ship(
                    session,
                    settings,
                    shop,
                    number,
                    carrier=typed.get("carrier", ""),
                    tracking_number=typed.get("tracking_number", ""),
                    lines=lines,
                    user_id=shop.owner_id,
                )
    except AppError as error:
        return await order_page(request, session, shop, number, error=error, typed=typed)
    return redirect_done(f"/console/orders/{number}", "shipped")


@router.post("/orders/{number}/refunds", dependencies=[LimitMisses])
async def refund(
    number: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    shop: ConsoleShop,
    amount: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    order = await service.get_for_shop_or_404(session, shop, number)
    try:
        async with attempt(session):
            await payments.refund_by_merchant(
                session,
                settings,
                order,
                amount=parse_amount(amount),
                reason=reason,
                idempotency_key=None,
            )
    except AppError as error:
        return await order_page(
            request,
            session,
            shop,
            number,
            error=error,
            refund_typed={"amount": amount, "reason": reason},
        )
    return redirect_done(f"/console/orders/{number}#money", "refunded")


@router.post("/orders/{number}/cancel", dependencies=[LimitMisses])
async def cancel_order(
    number: str, session: Session, settings: AppSettings, shop: ConsoleShop
) -> Response:
    await actions.cancel_by_merchant(session, settings, shop, number, user_id=shop.owner_id)
    return redirect_done(f"/console/orders/{number}", "cancelled")


# --- shipping fees ----------------------------------------------------------------------------


async def shipping_page(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    *,
    error: AppError | None = None,
    typed: dict[str, str] | None = None,
    regional: dict[str, str] | None = None,
) -> Response:
    rule = await shipping_fees.rule_for(session, shop)
    form = typed or {
        "kind": rule.kind,
        "fee": yuan_text(rule.fee) if rule.fee else "",
        "free_above": yuan_text(rule.free_above),
    }
    # By region: "extra_<code>" → yuan as typed, "none_<code>" → "1".
    by_region = regional
    if by_region is None:
        by_region = {f"extra_{code}": yuan_text(fen) for code, fen in rule.extra}
        by_region |= {f"none_{code}": "1" for code in rule.no_delivery}
    return render(
        request,
        "orders/console_shipping.html",
        {
            **await nav_context(session, shop, "shipping"),
            "kinds": [(kind.value, _(label)) for kind, label in shipping_fees.RULE_LABELS.items()],
            "form": form,
            "current": shipping_fees.describe(rule),
            "notice": notice_text(request.query_params.get("done"), error),
            "provinces": regions.provinces(),
            "by_region": by_region,
            "region_error": regional is not None,
        },
        error=error,
    )


@router.get("/shipping")
async def shipping_settings(request: Request, session: Session, shop: ConsoleShop) -> Response:
    return await shipping_page(request, session, shop)


def _yuan_field(text: str, field: str, message: str) -> int | None:
    if not text.strip():
        return None
    fen = parse_yuan(text)
    if fen is None:
        raise InvalidInput(message, code="invalid_amount", field=field)
    return fen


@router.post("/shipping")
async def save_shipping(
    request: Request,
    session: Session,
    shop: ConsoleShop,
    kind: Annotated[str, Form(max_length=20)] = "",
    fee: Annotated[str, Form(max_length=20)] = "",
    free_above: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    typed = {"kind": kind, "fee": fee, "free_above": free_above}
    try:
        async with attempt(session):
            if kind not in {choice.value for choice in RuleKind}:
                raise InvalidInput(_("Choose how you charge for shipping."), code="invalid_kind")
            chosen = RuleKind(kind)
            # Only the amounts the chosen kind uses are read: a stray one in a hidden field is
            # not the merchant's mistake.
            message = _("Enter an amount in yuan, like 8 or 99.50.")
            amount = None if chosen is RuleKind.free else _yuan_field(fee, "fee", message)
            threshold = (
                _yuan_field(free_above, "free_above", message)
                if chosen is RuleKind.free_above
                else None
            )
            async with attempt(session):
                await shipping_fees.set_rule(
                    session, shop, kind=chosen, fee=amount or 0, free_above=threshold
                )
    except AppError as error:
        return await shipping_page(request, session, shop, error=error, typed=typed)
    return redirect_done("/console/shipping", "shipping")


def _extra_fees(typed: dict[str, str], codes: list[str]) -> dict[str, int]:
    """The extra fee typed for each province, in fen (provinces left empty have none)."""
    extra: dict[str, int] = {}
    for code in codes:
        message = _(
            "Enter the extra fee for %(region)s in yuan, like 10 or 15.50.",
            region=regions.name_of(code),
        )
        fen = _yuan_field(typed.get(f"extra_{code}", ""), "extra", message)
        if fen:
            extra[code] = fen
    return extra


@router.post("/shipping/regions")
async def save_shipping_regions(request: Request, session: Session, shop: ConsoleShop) -> Response:
    """Extra fees and no delivery by province: one row per province, a yuan amount
    (`extra_<code>`) and a box (`none_<code>`)."""
    submitted = await request.form()
    codes = [province.code for province in regions.provinces()]
    typed = {
        name: str(submitted.get(name, ""))[:20]
        for code in codes
        for name in (f"extra_{code}", f"none_{code}")
        if submitted.get(name)
    }
    none = [code for code in codes if typed.get(f"none_{code}")]
    try:
        async with attempt(session):
            await shipping_fees.set_regions(
                session, shop, extra=_extra_fees(typed, codes), no_delivery=none
            )
    except AppError as error:
        return await shipping_page(request, session, shop, error=error, regional=typed)
    return redirect_done("/console/shipping", "regions")
