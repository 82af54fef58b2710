"""The buyer's side of orders: the cart, checkout (with an inline phone login) and their
orders (the address book is address_pages.py).

A guest's cart is a signed cookie; a logged-in buyer's is in the database. When a buyer who
still carries a guest cookie opens a cart or checkout page, the cookie is merged into their
cart and cleared.
"""

import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import media
from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import OptionalPageUser, PageUser, start_web_session
from pocketshop.accounts.models import User
from pocketshop.aftersales import display as aftersales
from pocketshop.catalog import storefront
from pocketshop.db import attempt
from pocketshop.errors import AppError
from pocketshop.guessing.deps import LimitMisses
from pocketshop.i18n import _
from pocketshop.money import format_fen
from pocketshop.orders import (
    actions,
    addresses,
    cart,
    checkout,
    queries,
    service,
    shipping,
    shipping_fees,
)
from pocketshop.orders.address_pages import AddressForm, typed_address
from pocketshop.orders.cart import GuestCart
from pocketshop.orders.checkout import LineRequest
from pocketshop.orders.models import Address, Order
from pocketshop.orders.service import (
    CLOSE_REASON_LABELS,
    MAX_QUANTITY,
    NOTE_MAX,
    Actor,
    CloseReason,
    OrderStatus,
)
from pocketshop.payments import outcomes
from pocketshop.payments.providers import offered
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from pocketshop.web import guest_cart, guest_source
from pocketshop.web.routing import AppSettings, Session, client_ip, get_settings, page_router
from pocketshop.web.storefront import local_time, shop_context
from pocketshop.web.templating import render

router = page_router()

PageNumber = Annotated[int, Query(ge=1, le=10_000)]
Text = Annotated[str, Form(max_length=200)]
Short = Annotated[str, Form(max_length=64)]


async def quantities(
    request: Request, session: AsyncSession, user: User | None, shop: Shop
) -> dict[str, int]:
    """The cart of this shop: the cookie's for a guest, the database's for a buyer (a guest
    cookie was merged into it when they logged in)."""
    if user is None:
        return cart.guest_quantities(guest_cart.read(request), shop)
    return await cart.quantities_of(session, user, shop)


def parse_quantity(text: str) -> int:
    """A quantity typed in a form; anything but plain digits is -1, which the cart refuses."""
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else -1


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _helpers(request: Request, shop: Shop) -> dict[str, Any]:
    return shop_context(request, shop) | {"max_quantity": MAX_QUANTITY}


# --- cart --------------------------------------------------------------------------------------


async def cart_page(
    request: Request,
    session: AsyncSession,
    user: User | None,
    shop: Shop,
    *,
    error: AppError | None = None,
) -> Response:
    priced = await cart.view(
        session, shop, await quantities(request, session, user, shop), buyer=user
    )
    response = render(
        request,
        "orders/store_cart.html",
        _helpers(request, shop) | {"cart": priced},
        error=error,
    )
    return response


@router.get("/s/{slug}/cart")
async def show_cart(
    slug: str, request: Request, session: Session, user: OptionalPageUser
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    return await cart_page(request, session, user, shop)


@router.post("/s/{slug}/cart/add")
async def add_to_cart(
    slug: str,
    request: Request,
    session: Session,
    user: OptionalPageUser,
    product: Short = "",
    spec0: Short = "",
    spec1: Short = "",
    spec2: Short = "",
    quantity: Short = "1",
    buy_now: Short = "",
) -> Response:
    """The product page's form: the server finds the SKU from the chosen spec values. A
    refusal goes back to the product page (see `_refused`)."""
    shop = await shops.get_by_slug_or_404(session, slug)
    view = await storefront.product_view(session, shop, product)  # 404 when not on sale
    chosen = [spec0, spec1, spec2]
    count = parse_quantity(quantity)
    guest: GuestCart | None = None
    try:
        async with attempt(session):
            cart.check_quantity(count)
            sku = storefront.choose_sku(view, chosen, count)
            if user is None:
                guest = cart.guest_set(
                    guest_cart.read(request), shop, sku.public_id, count, add=True
                )
            else:
                await cart.set_quantity(session, user, shop, sku.public_id, count, add=True)
    except AppError as error:
        return _refused(shop, view.product.public_id, error, chosen, count)
    target = f"/s/{shop.slug}/checkout?item={sku.public_id}" if buy_now else f"/s/{shop.slug}/cart"
    response = _redirect(target)
    if guest is not None:
        guest_cart.write(request, response, guest)
    return response


def _refused(
    shop: Shop, product: str, error: AppError, chosen: list[str], count: int
) -> RedirectResponse:
    """Back to the product page (POST-redirect-GET: a refresh or Back posts nothing again) at
    its buy form, with the refusal's code and what the buyer chose. The page tells the
    refusal from the code and the product's own data; it never shows text from the URL."""
    query: dict[str, str] = {"error": error.code}
    query |= {f"spec{index}": value.strip() for index, value in enumerate(chosen) if value.strip()}
    if count >= 0:
        query["qty"] = str(count)
    return _redirect(f"/s/{shop.slug}/p/{quote(product)}?{urlencode(query)}#buy")


async def _change(
    request: Request,
    session: AsyncSession,
    user: User | None,
    slug: str,
    sku: str,
    count: int,
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    guest: GuestCart | None = None
    try:
        async with attempt(session):
            cart.check_quantity(count, allow_zero=True)
            if user is None:
                if count > 0:
                    await cart.sellable_sku(session, shop, sku)
                guest = cart.guest_set(guest_cart.read(request), shop, sku, count)
            else:
                if count == 0:
                    await cart.remove(session, user, shop, sku)
                else:
                    await cart.set_quantity(session, user, shop, sku, count)
    except AppError as error:
        return await cart_page(request, session, user, shop, error=error)
    response = _redirect(f"/s/{shop.slug}/cart")
    if guest is not None:
        guest_cart.write(request, response, guest)
    return response


@router.post("/s/{slug}/cart/update")
async def update_cart(
    slug: str,
    request: Request,
    session: Session,
    user: OptionalPageUser,
    sku: Short = "",
    quantity: Short = "",
) -> Response:
    return await _change(request, session, user, slug, sku, parse_quantity(quantity))


@router.post("/s/{slug}/cart/remove")
async def remove_from_cart(
    slug: str, request: Request, session: Session, user: OptionalPageUser, sku: Short = ""
) -> Response:
    return await _change(request, session, user, slug, sku, 0)


# --- checkout ----------------------------------------------------------------------------------


async def checkout_page(
    request: Request,
    session: AsyncSession,
    user: User | None,
    shop: Shop,
    *,
    item: str = "",
    error: AppError | None = None,
    form: dict[str, str] | None = None,
    phone: str = "",
    code_sent: bool = False,
) -> Response:
    """Checkout: the lines to buy (the whole cart, or one item for "buy now"), the address
    book, a note and the totals, all priced on the server; a phone login form for a guest."""
    found = await quantities(request, session, user, shop)
    if item and item in found:
        found = {item: found[item]}
    book = await addresses.list_for(session, user) if user is not None else []
    typed = form or {}
    chosen = typed.get("address") or (book[0].public_id if book else "new")
    picked = next((address for address in book if address.public_id == chosen), None)
    province = addresses.province_code_of(picked) if picked else typed.get("province_code")
    priced = await cart.view(session, shop, found, province or None, buyer=user)
    rule = await shipping_fees.rule_for(session, shop)
    response = render(
        request,
        "orders/store_checkout.html",
        _helpers(request, shop)
        | {
            "cart": priced,
            "item": item if item in found else "",
            "addresses": book,
            "chosen_address": chosen,
            "address_notes": shipping_fees.address_notes(rule, book),
            "address_totals": _totals_by_address(rule, priced, book),
            "form": typed,
            "idempotency_key": typed.get("idempotency_key") or secrets.token_urlsafe(24),
            "note_max": NOTE_MAX,
            "phone": phone,
            "phone_display": accounts.display_phone(phone) if phone else "",
            "code_sent": code_sent,
            "code_minutes": get_settings(request).sms_code_ttl_seconds // 60,
        },
        error=error,
    )
    return response


def _totals_by_address(
    rule: shipping_fees.Terms, priced: cart.Cart, book: list[Address]
) -> dict[str, tuple[str, str]]:
    """Each choice of address's shipping and total as the totals show them, for the page to
    show the chosen one's (a new address: the fee before any province's extra)."""
    if not priced.items_total:
        return {}
    fees = shipping_fees.fees_to(rule, priced.items_total, book)
    fees["new"] = shipping_fees.fee(rule, priced.items_total)
    shown = {}
    for choice, fee in fees.items():
        total = format_fen(priced.items_total + (fee or 0))
        if fee is None:
            shown[choice] = (_("Not delivered here"), total)
        else:
            shown[choice] = (format_fen(fee) if fee else _("Free"), total)
    return shown


def _checkout_path(shop: Shop, item: str) -> str:
    return f"/s/{shop.slug}/checkout" + (f"?item={quote(item)}" if item else "")


@router.get("/s/{slug}/checkout")
async def show_checkout(
    slug: str,
    request: Request,
    session: Session,
    user: OptionalPageUser,
    item: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    return await checkout_page(request, session, user, shop, item=item)


@router.post("/s/{slug}/checkout/code")
async def checkout_send_code(
    slug: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    phone: Annotated[str, Form(max_length=32)] = "",
    item: Short = "",
) -> Response:
    """Step one of the inline login: the code goes out and the page asks for it."""
    shop = await shops.get_by_slug_or_404(session, slug)
    try:
        async with attempt(session):
            sent = await accounts.send_login_code(
                session, settings, phone=phone, ip=client_ip(request)
            )
    except AppError as error:
        # A code sent a moment ago is still good: ask for it, with the warning.
        code_sent = error.code == "resend_too_soon"
        return await checkout_page(
            request, session, None, shop, item=item, error=error, phone=phone, code_sent=code_sent
        )
    return await checkout_page(
        request, session, None, shop, item=item, phone=sent.phone, code_sent=True
    )


@router.post("/s/{slug}/checkout/login")
async def checkout_log_in(
    slug: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    phone: Annotated[str, Form(max_length=32)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    item: Short = "",
) -> Response:
    """Step two: logged in, the guest's cart joins the buyer's, and checkout goes on."""
    shop = await shops.get_by_slug_or_404(session, slug)
    try:
        async with attempt(session):
            user = await accounts.verify_login_code(session, settings, phone=phone, code=code)
    except AppError as error:
        return await checkout_page(
            request,
            session,
            None,
            shop,
            item=item,
            error=error,
            phone=phone,
            code_sent=error.field != "phone",
        )
    response = _redirect(_checkout_path(shop, item))
    await start_web_session(session, settings, user, response)
    await guest_cart.merge_at_login(session, request, response, user)
    await guest_source.bind_at_login(session, request, response, user)
    return response


@router.post("/s/{slug}/checkout")
async def place_order(
    slug: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    typed: AddressForm,
    sku: Annotated[list[str] | None, Form(max_length=64)] = None,
    address: Short = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    idempotency_key: Short = "",
    item: Short = "",
    pick: Short = "",
) -> Response:
    """Place the order for the cart lines the page showed, priced again on the server. The
    form's one-time key makes a double submit find the first order instead of a second.
    `pick` (the region picker without JavaScript) only shows the page again."""
    shop = await shops.get_by_slug_or_404(session, slug)
    if pick:
        kept = {"address": "new", "note": note, "idempotency_key": idempotency_key}
        form = typed_address(typed) | kept
        return await checkout_page(request, session, user, shop, item=item, form=form)
    key = idempotency_key.strip() or None
    if key is not None:
        placed = await checkout.placed_with_key(session, user, key)
        if placed is not None:
            return _redirect(f"/me/orders/{placed.number}")
    found = await quantities(request, session, user, shop)
    lines = [LineRequest(one, found[one]) for one in dict.fromkeys(sku or []) if one in found]
    new_address = typed if address in ("", "new") else None
    try:
        # A savepoint: a refused order (a sold-out line) must not keep stock it took for the
        # lines before, though this request goes on to show the error.
        async with attempt(session):
            created = await checkout.create(
                session,
                settings,
                user,
                shop,
                lines=lines,
                address=new_address,
                address_id=None if new_address else address,
                note=note,
                idempotency_key=key,
                from_cart=True,
            )
    except AppError as error:
        kept = {"address": address or "new", "note": note, "idempotency_key": key or ""}
        form = typed_address(typed) | kept
        return await checkout_page(request, session, user, shop, item=item, error=error, form=form)
    if new_address is not None and not created.replayed:
        await addresses.remember(session, user, new_address)
    return _redirect(f"/me/orders/{created.order.number}")


# --- the buyer's orders ------------------------------------------------------------------------


@router.get("/me/orders")
async def my_orders(
    request: Request, session: Session, user: PageUser, page: PageNumber = 1
) -> HTMLResponse:
    found = await queries.list_for_buyer(session, user, page=page)
    lines = await service.lines_by_order(session, found.orders)
    by_id = await shops.by_ids(session, {order.shop_id for order in found.orders})
    return render(
        request,
        "orders/store_orders.html",
        {
            "found": found,
            "lines": lines,
            "shops": by_id,
            "fen": format_fen,
            "media_url": media.url,
            "label_of": service.label_of,
            "local_time": local_time,
        },
    )


async def order_page(
    request: Request,
    session: AsyncSession,
    user: User,
    order: Order,
    *,
    error: AppError | None = None,
    pay_problem: str = "",
) -> HTMLResponse:
    shop = (await shops.by_ids(session, {order.shop_id}))[order.shop_id]
    money = await outcomes.money_of(session, order)
    events = await service.events_of(session, order)
    lines = await service.lines_of(session, order)
    providers = request.app.state.payments.providers
    return render(
        request,
        "orders/store_order.html",
        _helpers(request, shop)
        | {
            "order": order,
            "lines": lines,
            "aftersales": await aftersales.for_buyer(session, get_settings(request), order, lines),
            "events": events,
            "shipments": await shipping.shipments_of(session, order),
            "status_label": service.status_label,
            "close_reason": _close_reason,
            "carrier_name": shipping.carrier_name,
            "local_time": lambda moment: local_time(moment, shop.timezone),
            "can_cancel": service.may(order, OrderStatus.closed, Actor.buyer),
            "can_confirm": service.may(order, OrderStatus.completed, Actor.buyer),
            "pay_with": offered(providers) if order.status == OrderStatus.pending_payment else [],
            "paid": money.payment is not None,
            "money": money,  # with how paying went: said where the buyer pays
            "pay_problem": await outcomes.last_problem(session, order, pay_problem),
            "just_placed": request.query_params.get("placed") == "1",
        },
        error=error,
    )


def _close_reason(reason: str | None) -> str:
    try:
        return _(CLOSE_REASON_LABELS[CloseReason(reason or "")])
    except ValueError:
        return ""


@router.get("/me/orders/{number}", dependencies=[LimitMisses])
async def my_order(
    number: str,
    request: Request,
    session: Session,
    user: PageUser,
    pay_problem: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    order = await service.get_for_buyer_or_404(session, user, number)
    return await order_page(request, session, user, order, pay_problem=pay_problem)


@router.post("/me/orders/{number}/cancel", dependencies=[LimitMisses])
async def cancel_my_order(
    number: str, request: Request, session: Session, settings: AppSettings, user: PageUser
) -> Response:
    try:
        async with attempt(session):
            await actions.cancel_by_buyer(session, settings, user, number)
    except AppError as error:
        order = await service.get_for_buyer_or_404(session, user, number)
        return await order_page(request, session, user, order, error=error)
    return _redirect(f"/me/orders/{number}")


@router.post("/me/orders/{number}/confirm", dependencies=[LimitMisses])
async def confirm_my_order(
    number: str, request: Request, session: Session, settings: AppSettings, user: PageUser
) -> Response:
    try:
        async with attempt(session):
            await actions.confirm_receipt(session, settings, user, number)
    except AppError as error:
        order = await service.get_for_buyer_or_404(session, user, number)
        return await order_page(request, session, user, order, error=error)
    return _redirect(f"/me/orders/{number}")
