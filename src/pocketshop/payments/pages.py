"""The buyer's payment pages: paying an order (off to the provider), the QR code for paying
from a computer, the success page once paid, and the receipt. A payment that cannot start or
did not go through sends the buyer back to the order page (POST-redirect-GET) with a code it
shows as a fixed message (payments.outcomes)."""

from typing import Annotated

import segno
from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import PageUser, page_user_in
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.errors import AppError
from pocketshop.guessing.deps import LimitMisses
from pocketshop.money import format_fen
from pocketshop.orders import service as orders
from pocketshop.payments import calls, escrow, outcomes, service
from pocketshop.payments.providers import Channel, Prepay, channel_for, label, provider_of
from pocketshop.payments.service import Opened
from pocketshop.payments.states import refund_status
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from pocketshop.web.routing import (
    Session,
    client_address,
    get_settings,
    outside_page_router,
    page_router,
    unit,
)
from pocketshop.web.storefront import local_time
from pocketshop.web.templating import render

router = page_router()
# Routes that call a provider: their transactions are their own (see OutsideRoute).
outside = outside_page_router()


@outside.post("/me/orders/{number}/pay", dependencies=[LimitMisses])
async def pay(
    number: str, request: Request, provider: Annotated[str, Form(max_length=16)] = ""
) -> Response:
    """Start paying the buyer's order with the provider chosen (the first offered if none
    was): off to the provider's page, or its QR code on a computer; back to the order page,
    saying why, when it cannot start."""
    settings = get_settings(request)
    try:
        async with unit(request) as session:
            user = await page_user_in(session, request, settings)
            opened = await open_with(request, session, settings, user, number, provider)
        prepay = await calls.prepay(request.app.state.payments.providers, opened)
    except AppError as error:
        # Whatever the refused step wrote was rolled back with its transaction.
        if error.status_code in (401, 403, 429) or error.code == "order_not_found":
            raise  # not the buyer's to retry: a login, another's order, too many misses
        return RedirectResponse(
            f"/me/orders/{number}?pay_problem={error.code}#pay-problem", status_code=303
        )
    return prepay_response(request, opened, prepay)


async def open_with(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    user: User,
    number: str,
    provider: str,
) -> Opened:
    """The buyer's payment of the order with the provider chosen (the first offered if
    none was), by the channel that suits their browser."""
    providers = request.app.state.payments.providers
    chosen = provider_of(providers, provider or next(iter(providers), ""))
    openid = ""
    if Channel.jsapi in chosen.channels:
        openid = await accounts.openid_of(session, user.id, settings.wechatpay_appid) or ""
    return await service.open_payment(
        session,
        settings,
        providers,
        user,
        number,
        provider_name=chosen.name,
        channel=channel_for(chosen, request.headers.get("user-agent", ""), has_openid=bool(openid)),
        client_ip=client_address(request),
        openid=openid,
    )


def prepay_response(request: Request, opened: Opened, prepay: Prepay) -> Response:
    """Off to the provider's page, or its QR code to scan."""
    if prepay.redirect_url:
        return RedirectResponse(prepay.redirect_url, status_code=303)
    if prepay.jsapi:  # inside WeChat: the page asks WeChat's own cashier to take the payment
        return render(
            request,
            "payments/pay_jsapi.html",
            {
                "number": opened.order_number,
                "payment": opened.payment,
                "jsapi": prepay.jsapi,
                "provider_label": label(opened.payment.provider),
                "fen": format_fen,
            },
        )
    return render(
        request,
        "payments/pay_qr.html",
        {
            "number": opened.order_number,
            "payment": opened.payment,
            "qr_data_uri": segno.make(prepay.qr_url or "").svg_data_uri(scale=6),
            "provider_label": label(opened.payment.provider),
            "fen": format_fen,
        },
    )


@outside.get("/me/orders/{number}/return", dependencies=[LimitMisses])
async def back_from_the_provider(
    number: str,
    request: Request,
    payment: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The buyer is back from the provider's page: ask it how the payment went rather than
    wait for its notification, then show the outcome: the success page, or the order page
    saying what went wrong. If it cannot be asked now, its notification, or our sweep, still
    settles it."""
    settings = get_settings(request)
    async with unit(request, write=False) as session:
        user = await page_user_in(session, request, settings)
        order = await orders.get_for_buyer_or_404(session, user, number)
        found = await outcomes.buyers_payment(session, user, order, payment)
    if found is not None:
        payments = request.app.state.payments
        await calls.advance_payment(request.app.state.db, settings, payments.providers, found.id)
    async with unit(request, write=False) as session:
        user = await page_user_in(session, request, settings)
        order = await orders.get_for_buyer_or_404(session, user, number)
        paid = await escrow.paying_payment(session, order.id) is not None
        found = await outcomes.buyers_payment(session, user, order, payment)
    return RedirectResponse(outcomes.after_return(number, found, paid), status_code=303)


def _money_context(shop: Shop, money: outcomes.MoneyView) -> dict[str, object]:
    return {
        "shop": shop,
        "money": money,
        "payment": money.payment,
        "provider_label": label(money.payment.provider) if money.payment else "",
        "refund_status": refund_status,
        "local_time": lambda moment: local_time(moment, shop.timezone),
        "fen": format_fen,
    }


@router.get("/me/orders/{number}/paid", dependencies=[LimitMisses])
async def paid(number: str, request: Request, session: Session, user: PageUser) -> Response:
    """Payment successful: the amount, the order, and that the platform holds the money until
    the buyer confirms receipt. An order not paid (yet) is shown as it is."""
    order = await orders.get_for_buyer_or_404(session, user, number)
    money = await outcomes.money_of(session, order)
    if money.payment is None or money.payment.stray:
        return RedirectResponse(f"/me/orders/{number}", status_code=303)
    shop = await shops.get(session, order.shop_id)
    return render(request, "payments/paid.html", {"order": order} | _money_context(shop, money))


@router.get("/me/orders/{number}/receipt", dependencies=[LimitMisses])
async def receipt(number: str, request: Request, session: Session, user: PageUser) -> HTMLResponse:
    order = await orders.get_for_buyer_or_404(session, user, number)
    money = await outcomes.money_of(session, order)
    if money.payment is None:
        raise escrow.not_paid()
    shop = await shops.get(session, order.shop_id)
    return render(request, "payments/receipt.html", {"order": order} | _money_context(shop, money))
