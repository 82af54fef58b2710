"""Payment requests on pages: the merchant makes one and shares its link or QR code; the
buyer opens it, gives an address (none for a request without delivery), and is sent to pay."""

from typing import Annotated, Any

import segno
from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pocketshop.accounts.deps import OptionalPageUser, PageUser, page_user_in
from pocketshop.accounts.models import User
from pocketshop.catalog import stock
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput
from pocketshop.guessing.deps import LimitMisses
from pocketshop.i18n import _
from pocketshop.money import format_fen, parse_yuan
from pocketshop.orders import addresses
from pocketshop.orders import service as orders
from pocketshop.payments import calls, requests
from pocketshop.payments.models import PaymentRequest
from pocketshop.payments.pages import open_with, prepay_response
from pocketshop.payments.providers import offered
from pocketshop.shops import service as shops
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web.console import nav_context, redirect_done
from pocketshop.web.routing import (
    Session,
    get_settings,
    outside_page_router,
    page_router,
    public_base_url,
    unit,
)
from pocketshop.web.storefront import shop_context
from pocketshop.web.templating import render

router = page_router()
outside = outside_page_router()

Short = Annotated[str, Form(max_length=200)]
ITEM_ROWS = 3


# --- the buyer --------------------------------------------------------------------------


async def _store_page(
    request: Request,
    session: Session,
    user: User | None,
    shop: Shop,
    made: PaymentRequest,
    *,
    error: AppError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    summary = await requests.summary(session, shop, made)
    book = await addresses.list_for(session, user) if user is not None else []
    typed = form or {}
    return render(
        request,
        "payments/store_request.html",
        shop_context(request, shop)
        | {
            "summary": summary,
            "status_text": requests.status_label(summary),
            "payable": made.status == requests.RequestStatus.open and not summary.expired,
            "addresses": book,
            "chosen_address": typed.get("address") or (book[0].public_id if book else "new"),
            "form": typed,
            "pay_with": offered(request.app.state.payments.providers),
            "path": f"/s/{shop.slug}/pay/{made.public_id}",
            "share_link": requests.link(public_base_url(request), shop, made),
        },
        error=error,
    )


@router.get("/s/{slug}/pay/{request_id}", dependencies=[LimitMisses])
async def open_request(
    slug: str, request_id: str, request: Request, session: Session, user: OptionalPageUser
) -> HTMLResponse:
    shop = await shops.get_by_slug_or_404(session, slug)
    made = await requests.get_for_shop_or_404(session, shop, request_id)
    return await _store_page(request, session, user, shop, made)


@outside.post("/s/{slug}/pay/{request_id}", dependencies=[LimitMisses])
async def pay_request(slug: str, request_id: str, request: Request) -> Response:
    """The buyer's order from the request (new, or the one they opened before), paid with
    the provider chosen; the request's page with the reason when it cannot be."""
    settings = get_settings(request)
    submitted = await request.form()
    typed = {key: value for key, value in submitted.items() if isinstance(value, str)}
    chosen = typed.get("address", "new")
    new_address = addresses.AddressInput(**{name: typed.get(name, "") for name in addresses.FIELDS})
    try:
        async with unit(request) as session:
            user = await page_user_in(session, request, settings)
            shop = await shops.get_by_slug_or_404(session, slug)
            order = await requests.take(
                session,
                settings,
                user,
                shop,
                request_id,
                address=new_address if chosen == "new" else None,
                address_id=None if chosen == "new" else chosen,
            )
            if chosen == "new" and not order.no_delivery:  # no delivery: no address taken
                await addresses.remember(session, user, new_address)
            opened = await open_with(
                request, session, settings, user, order.number, typed.get("provider", "")
            )
        prepay = await calls.prepay(request.app.state.payments.providers, opened)
    except AppError as error:
        # Whatever the refused step wrote was rolled back with its transaction.
        async with unit(request, write=False) as session:
            user = await page_user_in(session, request, settings)
            shop = await shops.get_by_slug_or_404(session, slug)
            made = await requests.get_for_shop_or_404(session, shop, request_id)
            return await _store_page(request, session, user, shop, made, error=error, form=typed)
    return prepay_response(request, opened, prepay)


@router.get("/s/{slug}/pay/{request_id}/qr.svg", dependencies=[LimitMisses])
async def request_qr(slug: str, request_id: str, request: Request, session: Session) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    made = await requests.get_for_shop_or_404(session, shop, request_id)
    svg = segno.make(requests.link(public_base_url(request), shop, made), error="m").svg_inline(
        scale=6
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# --- the merchant -----------------------------------------------------------------------


async def _console_list(
    request: Request,
    session: Session,
    shop: Shop,
    *,
    error: AppError | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    made = await requests.of_shop(session, shop)
    summaries = await requests.summaries(session, shop, made)
    return render(
        request,
        "payments/console_requests.html",
        {
            **await nav_context(session, shop, "requests"),
            "summaries": summaries,
            "status_label": requests.status_label,
            "skus": await stock.sellable(session, shop.id),
            "item_rows": range(ITEM_ROWS),
            "typed": typed or {},
            "money": format_fen,
            "spec": " · ".join,
        },
        error=error,
    )


@router.get("/console/payment-requests")
async def console_requests(request: Request, session: Session, shop: ConsoleShop) -> HTMLResponse:
    return await _console_list(request, session, shop)


def _items(typed: dict[str, str]) -> list[requests.Item]:
    items = []
    for row in range(ITEM_ROWS):
        sku = typed.get(f"sku{row}", "")
        if not sku:
            continue
        count = typed.get(f"qty{row}", "1").strip() or "1"
        if not count.isascii() or not count.isdigit():
            raise InvalidInput(_("Enter how many, as a whole number."), code="invalid_quantity")
        items.append(requests.Item(sku, int(count)))
    return items


def _hours(text: str) -> int:
    """The form's hours; -1 (refused by the service) when not a small whole number."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else -1


@router.post("/console/payment-requests")
async def make_request(
    request: Request, session: Session, user: PageUser, shop: ConsoleShop
) -> Response:
    submitted = await request.form()
    typed = {key: value for key, value in submitted.items() if isinstance(value, str)}
    try:
        async with attempt(session):
            amount_text = typed.get("amount", "").strip()
            amount = parse_yuan(amount_text) if amount_text else None
            if amount_text and not amount:
                raise InvalidInput(
                    _("Enter an amount in yuan, like 12.50."), code="invalid_amount", field="amount"
                )
            async with attempt(session):
                made = await requests.create(
                    session,
                    shop,
                    user,
                    items=[] if amount else _items(typed),
                    amount=amount,
                    note=typed.get("note", ""),
                    expires_in_hours=_hours(typed.get("hours", "72")),
                    no_delivery=bool(typed.get("no_delivery")),
                )
    except AppError as error:
        return await _console_list(request, session, shop, error=error, typed=typed)
    return RedirectResponse(f"/console/payment-requests/{made.public_id}", status_code=303)


@router.get("/console/payment-requests/{request_id}", dependencies=[LimitMisses])
async def console_request(
    request_id: str,
    request: Request,
    session: Session,
    shop: ConsoleShop,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    made = await requests.get_for_shop_or_404(session, shop, request_id)
    summary = await requests.summary(session, shop, made)
    link = requests.link(public_base_url(request), shop, made)
    order_numbers = await orders.numbers(session, {made.order_id} if made.order_id else set())
    context: dict[str, Any] = {
        **await nav_context(session, shop, "requests"),
        "summary": summary,
        "status_text": requests.status_label(summary),
        "link": link,
        "qr": segno.make(link, error="m").svg_data_uri(scale=5),
        "order_number": order_numbers.get(made.order_id or 0),
        "money": format_fen,
        "notice": _("Cancelled.") if done == "cancelled" else None,
    }
    return render(request, "payments/console_request.html", context)


@router.post("/console/payment-requests/{request_id}/cancel", dependencies=[LimitMisses])
async def cancel_request(
    request_id: str, session: Session, user: PageUser, shop: ConsoleShop
) -> Response:
    await requests.cancel(session, shop, user, request_id)  # a paid one: 409, shown as a page
    return redirect_done(f"/console/payment-requests/{request_id}", "cancelled")
