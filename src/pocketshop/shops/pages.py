import io
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, Signer
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, media
from pocketshop.accounts.deps import OptionalPageUser, PageUser, page_user_in
from pocketshop.accounts.models import User
from pocketshop.accounts.service import display_phone
from pocketshop.analytics import dashboard
from pocketshop.config import Settings
from pocketshop.db import attempt
from pocketshop.errors import AppError, NotFound
from pocketshop.i18n import _
from pocketshop.ledger import service as ledger
from pocketshop.ledger.service import AccountKind
from pocketshop.money import format_fen
from pocketshop.orders import queries as order_queries
from pocketshop.shops import logos, service
from pocketshop.shops.deps import ConsoleShop, console_shop_in
from pocketshop.shops.models import Shop
from pocketshop.shops.service import Step
from pocketshop.web import cookies
from pocketshop.web.console import nav_context, redirect_done
from pocketshop.web.routing import (
    AppSettings,
    Session,
    get_settings,
    outside_page_router,
    page_router,
    public_base_url,
    unit,
)
from pocketshop.web.templating import render

router = page_router()
# Routes that decode uploads before their transaction (see OutsideRoute).
outside = outside_page_router()


async def onboarding_page(
    request: Request,
    session: Session,
    user: User | None,
    *,
    error: AppError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    if user is None:
        return render(request, "shops/onboarding.html", {"step": Step.phone, "form": {}})
    if user.phone is None:  # signed in with WeChat: a shop is reached by phone
        return RedirectResponse("/me/phone?next=/onboarding", status_code=303)
    state = await service.onboarding(session, user)
    if state.step is Step.done:
        if error is not None:
            # A step sent after the shop opened: say so (409) instead of moving on silently.
            raise error
        return RedirectResponse("/console", status_code=303)
    return render(
        request,
        "shops/onboarding.html",
        {
            "step": state.step,
            "state": state,
            "phone": display_phone(user.phone),
            "banks": service.banks(),
            "form": form or {},
            "name_max": service.SHOP_NAME_MAX,
            "logo_max_mb": get_settings(request).logo_max_bytes // 2**20,
            "description_max": service.DESCRIPTION_MAX,
        },
        error=error,
    )


# The shop whose "open your own shop too" was followed, kept until the new shop opens.
INVITED_COOKIE = "ps_invited_by"


@router.get("/onboarding")
async def show_onboarding(
    request: Request,
    session: Session,
    user: OptionalPageUser,
    invited_by: Annotated[str, Query(alias="from", max_length=48)] = "",
) -> Response:
    response = await onboarding_page(request, session, user)
    if invited_by:
        settings = get_settings(request)
        signed = _invite_signer(settings).sign(invited_by).decode()
        cookies.keep(response, settings, INVITED_COOKIE, signed, days=30)
    return response


def _invite_signer(settings: Settings) -> Signer:
    return Signer(settings.secrets.secret_key, salt="pocketshop.invited-by")


def _invited_by(request: Request, settings: Settings) -> str | None:
    try:
        return _invite_signer(settings).unsign(request.cookies.get(INVITED_COOKIE, "")).decode()
    except BadSignature:
        return None


@router.get("/onboarding/identity")
@router.get("/onboarding/bank-card")
@router.get("/onboarding/shop")
async def show_step() -> Response:
    """A step's form address opened directly, e.g. when the login page sends a merchant back
    after their session ran out mid-form: show the step that is due."""
    return RedirectResponse("/onboarding", status_code=303)


@router.post("/onboarding/identity")
async def submit_identity(
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    real_name: Annotated[str, Form(max_length=64)] = "",
    id_number: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        async with attempt(session):
            await service.verify_identity(
                session, settings, user, real_name=real_name, id_number=id_number
            )
    except AppError as error:
        form = {"real_name": real_name, "id_number": id_number}
        return await onboarding_page(request, session, user, error=error, form=form)
    return RedirectResponse("/onboarding", status_code=303)


@router.post("/onboarding/bank-card")
async def submit_bank_card(
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    holder_name: Annotated[str, Form(max_length=64)] = "",
    card_number: Annotated[str, Form(max_length=32)] = "",
    bank: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        async with attempt(session):
            await service.bind_bank_card(
                session,
                settings,
                user,
                holder_name=holder_name,
                card_number=card_number,
                bank_code=bank,
            )
    except AppError as error:
        form = {"holder_name": holder_name, "card_number": card_number, "bank": bank}
        return await onboarding_page(request, session, user, error=error, form=form)
    return RedirectResponse("/onboarding", status_code=303)


@outside.post("/onboarding/shop")
async def submit_shop(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    logo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The last step; the logo decoded before the transaction, its file kept once that
    committed."""
    settings = get_settings(request)
    try:
        async with unit(request, write=False) as session:
            await page_user_in(session, request, settings)  # who asks, before any decoding
        # Browsers send an empty file part when no logo was chosen.
        sent = await logo.read(settings.logo_max_bytes + 1) if logo and logo.filename else None
        png = await logos.prepare(settings, sent)
        with media.staged(settings) as files:
            logo_key = logos.stage(files, png)
            async with unit(request) as session:
                user = await page_user_in(session, request, settings)
                await service.open_shop(
                    session,
                    settings,
                    user,
                    name=name,
                    description=description,
                    logo_key=logo_key,
                    invited_by=_invited_by(request, settings),
                )
    except AppError as error:
        # Whatever the refused step wrote was rolled back with its transaction.
        async with unit(request, write=False) as session:
            user = await page_user_in(session, request, settings)
            form = {"name": name, "description": description}
            return await onboarding_page(request, session, user, error=error, form=form)
    response = RedirectResponse("/console?opened=1", status_code=303)
    cookies.forget(response, settings, INVITED_COOKIE)
    return response


@router.get("/console")
async def console_home(
    request: Request, session: Session, settings: AppSettings, user: PageUser
) -> Response:
    shop = await service.get_for_owner(session, user)
    if shop is None:
        return RedirectResponse("/onboarding", status_code=303)
    local = clock.now().astimezone(ZoneInfo(shop.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    held = await ledger.shop_balances(session, shop.id)
    return render(
        request,
        "shops/console_home.html",
        {
            "shop": shop,
            "today": await order_queries.today(
                session,
                shop,
                midnight,
                # The unpaid timeout, and a day for a payment that beat a late close.
                timedelta(minutes=settings.unpaid_timeout_minutes, days=1),
            ),
            "available": held[AccountKind.merchant_available].amount,
            "fen": format_fen,
            "shop_url": service.shop_url(public_base_url(request), shop),
            "logo_url": service.logo_url(shop),
            "just_opened": request.query_params.get("opened") == "1",
            # Sales and visitors: the last 30 days, today against yesterday, the chart.
            **await dashboard.context(session, shop, request.query_params.get("chart", "")),
        },
    )


# --- shop settings ----------------------------------------------------------------------------

SETTINGS_FIELDS = (
    "name",
    "description",
    "service_phone",
    "wechat_id",
    "business_hours",
    "return_address",
)


def settings_form(shop: Shop) -> dict[str, str]:
    """The settings as the form shows them (the phone as people write it)."""
    return {
        "name": shop.name,
        "description": shop.description,
        "service_phone": display_phone(shop.service_phone) if shop.service_phone else "",
        "wechat_id": shop.wechat_id,
        "business_hours": shop.business_hours,
        "return_address": shop.return_address,
    }


async def settings_page(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    *,
    error: AppError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    settings = get_settings(request)
    return render(
        request,
        "shops/console_settings.html",
        {
            **await nav_context(session, shop, "home"),
            "form": typed if typed is not None else settings_form(shop),
            "fields": (*SETTINGS_FIELDS, "logo"),
            "logo_url": service.logo_url(shop),
            "shop_url": service.shop_url(public_base_url(request), shop),
            "name_max": service.SHOP_NAME_MAX,
            "description_max": service.DESCRIPTION_MAX,
            "hours_max": service.BUSINESS_HOURS_MAX,
            "address_max": service.RETURN_ADDRESS_MAX,
            "wechat_max": service.WECHAT_ID_MAX,
            "logo_max_mb": settings.logo_max_bytes // 2**20,
            "saved": request.query_params.get("done") == "saved" and error is None,
        },
        error=error,
    )


@router.get("/console/settings")
async def shop_settings(request: Request, session: Session, shop: ConsoleShop) -> Response:
    return await settings_page(request, session, shop)


@outside.post("/console/settings")
async def save_shop_settings(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    service_phone: Annotated[str, Form(max_length=40)] = "",
    wechat_id: Annotated[str, Form(max_length=80)] = "",
    business_hours: Annotated[str, Form(max_length=400)] = "",
    return_address: Annotated[str, Form(max_length=1200)] = "",
    logo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Every field at once, and a new logo if one was chosen: decoded before the transaction,
    its file kept once that committed. A refusal shows the form again as typed, nothing
    saved."""
    settings = get_settings(request)
    typed = {
        "name": name,
        "description": description,
        "service_phone": service_phone,
        "wechat_id": wechat_id,
        "business_hours": business_hours,
        "return_address": return_address,
    }
    try:
        async with unit(request, write=False) as session:
            await console_shop_in(session, request)  # who asks, before any decoding
        # Browsers send an empty file part when no logo was chosen.
        sent = await logo.read(settings.logo_max_bytes + 1) if logo and logo.filename else None
        png = await logos.prepare(settings, sent)
        with media.staged(settings) as files:
            logo_key = logos.stage(files, png)
            async with unit(request) as session:
                shop = await console_shop_in(session, request)
                await service.update_profile(session, settings, shop, **typed, logo_key=logo_key)
    except AppError as error:
        # Whatever the refused change wrote was rolled back with its transaction.
        async with unit(request, write=False) as session:
            shop = await console_shop_in(session, request)
            return await settings_page(request, session, shop, error=error, typed=typed)
    return redirect_done("/console/settings", "saved")


@router.api_route("/s/{slug}/qr.{kind}", methods=["GET", "HEAD"])
async def shop_qr(
    slug: str, kind: str, request: Request, session: Session, settings: AppSettings
) -> Response:
    shop = await service.get_by_slug_or_404(session, slug)
    if kind not in ("svg", "png"):
        raise NotFound(_("Page not found."))
    qr = segno.make(service.shop_url(public_base_url(request), shop), error="m")
    buffer = io.BytesIO()
    if kind == "svg":
        qr.save(buffer, kind="svg", scale=6, border=4, xmldecl=False)
        media_type = "image/svg+xml"
    else:
        qr.save(buffer, kind="png", scale=10, border=4)
        media_type = "image/png"
    headers = {
        "Cache-Control": "public, max-age=3600",
        "Content-Disposition": f'inline; filename="{shop.slug}-qr.{kind}"',
    }
    return Response(buffer.getvalue(), media_type=media_type, headers=headers)
