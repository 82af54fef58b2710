from collections.abc import Callable
from functools import partial
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts import service
from pocketshop.accounts.deps import (
    SESSION_COOKIE,
    OptionalPageUser,
    session_cookie_token,
    start_web_session,
)
from pocketshop.config import Settings
from pocketshop.db import attempt
from pocketshop.errors import AppError, NotFound
from pocketshop.i18n import LOCALE_COOKIE, SUPPORTED_LOCALES, _
from pocketshop.web import guest_cart, guest_source
from pocketshop.web.routing import AppSettings, Session, client_ip, get_settings, page_router
from pocketshop.web.templating import render

router = page_router()


def safe_next(target: str | None, default: str = "/console") -> str:
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def phone_form_page(
    request: Request,
    template: str,
    *,
    next_url: str,
    phone: str = "",
    code_sent: bool = False,
    error: AppError | None = None,
    **extra: object,
) -> HTMLResponse:
    """A page of the phone + SMS code form (accounts/_phone_login.html)."""
    return render(
        request,
        template,
        {
            "next_url": next_url,
            "phone": phone,
            "phone_display": service.display_phone(phone),
            "code_sent": code_sent,
            "code_minutes": get_settings(request).sms_code_ttl_seconds // 60,
            **extra,
        },
        error=error,
    )


def login_page(
    request: Request,
    *,
    next_url: str,
    phone: str = "",
    code_sent: bool = False,
    error: AppError | None = None,
) -> HTMLResponse:
    return phone_form_page(
        request,
        "accounts/login.html",
        next_url=next_url,
        phone=phone,
        code_sent=code_sent,
        error=error,
        onboarding=next_url.startswith("/onboarding"),
    )


async def send_code_then(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    phone: str,
    page: Callable[..., HTMLResponse],
) -> HTMLResponse:
    """A phone form's first step: the code sent, and `page` again with the code form. A code
    sent recently is still good: the code form then, with the warning."""
    try:
        async with attempt(session):
            sent = await service.send_login_code(
                session, settings, phone=phone, ip=client_ip(request)
            )
    except AppError as error:
        return page(phone=phone, code_sent=error.code == "resend_too_soon", error=error)
    return page(phone=sent.phone, code_sent=True)


@router.get("/login")
async def show_login(request: Request, user: OptionalPageUser, next: str = "") -> Response:
    next_url = safe_next(next)
    if user is not None:
        return RedirectResponse(next_url, status_code=303)
    return login_page(request, next_url=next_url)


@router.post("/login/code")
async def send_code(
    request: Request,
    session: Session,
    settings: AppSettings,
    phone: Annotated[str, Form(max_length=32)] = "",
    next: Annotated[str, Form()] = "",
) -> HTMLResponse:
    page = partial(login_page, request, next_url=safe_next(next))
    return await send_code_then(request, session, settings, phone, page)


@router.post("/login")
async def log_in(
    request: Request,
    session: Session,
    settings: AppSettings,
    phone: Annotated[str, Form(max_length=32)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        async with attempt(session):
            user = await service.verify_login_code(session, settings, phone=phone, code=code)
    except AppError as error:
        # A counted wrong try was flushed; the request commits it with the re-rendered form.
        # An unusable phone number can only be fixed on the phone form, not the code form.
        return login_page(
            request,
            next_url=safe_next(next),
            phone=phone,
            code_sent=error.field != "phone",
            error=error,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    await start_web_session(session, settings, user, response)
    await guest_cart.merge_at_login(session, request, response, user)
    await guest_source.bind_at_login(session, request, response, user)
    return response


@router.post("/logout")
async def log_out(request: Request, session: Session, settings: AppSettings) -> Response:
    token = session_cookie_token(request, settings)
    if token:
        await service.end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=settings.cookie_secure
    )
    return response


@router.post("/language")
async def choose_language(
    settings: AppSettings, lang: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
) -> Response:
    response = RedirectResponse(safe_next(next, default="/"), status_code=303)
    if lang in SUPPORTED_LOCALES:
        response.set_cookie(
            LOCALE_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
        )
    return response


@router.get("/dev/sms")
async def dev_inbox(request: Request, settings: AppSettings) -> HTMLResponse:
    """Recent SMS of the console backend, so the demo can be used without a phone."""
    sender = request.app.state.sms
    if not settings.dev_inbox_enabled or not hasattr(sender, "sent"):
        raise NotFound(_("Page not found."))
    zone = ZoneInfo(settings.default_timezone)  # the shops' own, unless one chose another
    return render(
        request,
        "accounts/dev_inbox.html",
        {
            "messages": list(sender.sent),
            "at": lambda moment: moment.astimezone(zone).strftime("%m-%d %H:%M:%S"),
        },
    )
