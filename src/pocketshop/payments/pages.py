"""The buyer's payment pages: paying an order (off to the provider), the QR code for paying
from a computer, and the receipt."""

import contextlib
from typing import Annotated

import segno
from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import PageUser
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.errors import AppError, ProviderUnavailable
from pocketshop.money import format_fen
from pocketshop.orders import service as orders
from pocketshop.orders.pages import local_time, order_page
from pocketshop.payments import refunds, service
from pocketshop.payments.providers import channel_for, label, provider_of
from pocketshop.payments.states import refund_status
from pocketshop.shops import service as shops
from pocketshop.web.routing import (
    AppSettings,
    Session,
    client_ip,
    page_router,
    public_base_url,
    return_router,
)
from pocketshop.web.templating import render

router = page_router()
returns = return_router()


@router.post("/me/orders/{number}/pay")
async def pay(
    number: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    provider: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    return await pay_response(request, session, settings, user, number, provider)


async def pay_response(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    user: User,
    number: str,
    provider: str,
) -> Response:
    """Start paying the buyer's order with the provider chosen (the first offered if none
    was): off to the provider's page, or its QR code on a computer; the order page with the
    reason when it cannot start."""
    payments = request.app.state.payments
    try:
        chosen = provider_of(payments.providers, provider or next(iter(payments.providers), ""))
        started = await service.start(
            session,
            settings,
            payments.providers,
            user,
            number,
            provider_name=chosen.name,
            channel=channel_for(chosen, request.headers.get("user-agent", "")),
            base_url=public_base_url(request),
            client_ip=client_ip(request),
        )
    except AppError as error:
        order = await orders.get_for_buyer_or_404(session, user, number)
        return await order_page(request, session, user, order, error=error)
    if started.prepay.redirect_url:
        return RedirectResponse(started.prepay.redirect_url, status_code=303)
    return render(
        request,
        "payments/pay_qr.html",
        {
            "number": number,
            "payment": started.payment,
            "qr_data_uri": segno.make(started.prepay.qr_url or "").svg_data_uri(scale=6),
            "provider_label": label(chosen.name),
            "fen": format_fen,
        },
    )


@returns.get("/me/orders/{number}/return")
async def back_from_the_provider(
    number: str,
    request: Request,
    session: Session,
    user: PageUser,
    payment: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The buyer is back from the provider's page: ask it how the payment went rather than
    wait for its notification, then show the order."""
    order = await orders.get_for_buyer_or_404(session, user, number)
    if payment:
        # The provider's notification still comes if it cannot be asked now.
        with contextlib.suppress(ProviderUnavailable):
            await service.refresh_for_buyer(
                session, request.app.state.payments.providers, user, order, payment
            )
    return RedirectResponse(f"/me/orders/{number}", status_code=303)


@router.get("/me/orders/{number}/receipt")
async def receipt(number: str, request: Request, session: Session, user: PageUser) -> HTMLResponse:
    order = await orders.get_for_buyer_or_404(session, user, number)
    payment = await service.paid_payment(session, order)
    if payment is None:
        raise service.not_paid()
    shop = await shops.get(session, order.shop_id)
    return render(
        request,
        "payments/receipt.html",
        {
            "order": order,
            "shop": shop,
            "payment": payment,
            "refunds": await refunds.of_order(session, order.id),
            "provider_label": label(payment.provider),
            "refund_status": refund_status,
            "local_time": lambda moment: local_time(moment, shop.timezone),
            "fen": format_fen,
        },
    )
