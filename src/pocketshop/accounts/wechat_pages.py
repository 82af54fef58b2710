"""Signing in inside WeChat, and binding a phone to such an account.

A buyer who opens a shop link in WeChat's browser is sent once, silently, through the Official
Account's web authorisation (snsapi_base: no question asked) and comes back signed in; one who
agrees to share their WeChat name and photo goes through snsapi_userinfo. Ordering needs a
phone: /me/phone binds one, merging into the phone's account when it has one. The JS-SDK's
configuration for share cards comes from /wechat/js-config, so pages stay cacheable."""

from functools import partial
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pocketshop.accounts import identities
from pocketshop.accounts.api import wechat_sign_in
from pocketshop.accounts.deps import (
    PageUser,
    session_cookie_token,
    start_web_session,
)
from pocketshop.accounts.pages import phone_form_page, safe_next, send_code_then
from pocketshop.accounts.wechat import (
    Scope as WeChatScope,
)
from pocketshop.accounts.wechat import (
    ScopeRefused,
    SignInAgain,
    StateRefused,
    check_state,
    make_state,
    new_nonce,
)
from pocketshop.config import Settings
from pocketshop.db import attempt
from pocketshop.errors import AppError, Forbidden, ProviderUnavailable
from pocketshop.i18n import _
from pocketshop.web import cookies, guest_cart, guest_source
from pocketshop.web.routing import (
    AppSettings,
    Session,
    get_settings,
    outside_page_router,
    page_router,
    unit,
)
from pocketshop.wechat import WeChatUnavailable

router = page_router()
outside = outside_page_router()

NONCE_COOKIE = "ps_wx_nonce"
# The silent sign-in was tried in this browser: not again for a day, whatever came of it (a
# buyer who left WeChat's page, or a snapshot page, browses as a guest).
TRIED_COOKIE = "ps_wx_tried"


def in_wechat(user_agent: str) -> bool:
    return "MicroMessenger" in user_agent


def signin_path(next_url: str, scope: WeChatScope = WeChatScope.base) -> str:
    query = {"next": next_url} | ({"scope": "userinfo"} if scope is WeChatScope.userinfo else {})
    return f"/wechat/signin?{urlencode(query)}"


def silent_signin(request: Request, settings: Settings, next_url: str) -> Response | None:
    """Inside WeChat, a visitor not signed in goes through the silent sign-in once."""
    if (
        settings.wechat_sign_in
        and in_wechat(request.headers.get("user-agent", ""))
        and TRIED_COOKIE not in request.cookies
        and session_cookie_token(request, settings) is None
    ):
        return RedirectResponse(signin_path(next_url), status_code=303)
    return None


@router.get("/wechat/signin")
async def start(
    request: Request,
    settings: AppSettings,
    next: Annotated[str, Query(max_length=2000)] = "",
    scope: Annotated[str, Query(max_length=16)] = "base",
) -> Response:
    """Off to WeChat's authorisation, with a state bound to this browser's nonce."""
    wechat = wechat_sign_in(request)
    chosen = WeChatScope.userinfo if scope == "userinfo" else WeChatScope.base
    nonce = new_nonce()
    callback = f"{settings.own_url}/wechat/callback?next={quote(safe_next(next, '/'), safe='')}"
    response = RedirectResponse(
        wechat.oauth.authorize_url(
            callback, chosen, make_state(settings.secrets.secret_key, nonce)
        ),
        status_code=303,
    )
    cookies.keep(response, settings, NONCE_COOKIE, nonce, days=1)
    cookies.keep(response, settings, TRIED_COOKIE, "1", days=1)
    return response


@outside.get("/wechat/callback")
async def callback(
    request: Request,
    code: Annotated[str, Query(max_length=512)] = "",
    state: Annotated[str, Query(max_length=128)] = "",
    next: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """Back from WeChat: the state checked against this browser's nonce, the code exchanged
    (once: WeChat takes a code once), the buyer signed in."""
    settings = get_settings(request)
    wechat = wechat_sign_in(request)
    next_url = safe_next(next, "/")
    if not code:  # the user declined to share their profile: on as they were
        return RedirectResponse(next_url, status_code=303)
    try:
        check_state(settings.secrets.secret_key, state, request.cookies.get(NONCE_COOKIE, ""))
    except StateRefused:
        raise Forbidden(
            _("This WeChat sign-in did not start in this browser. Please try again."),
            code="wechat_state_refused",
        ) from None
    try:
        grant = await wechat.oauth.exchange(code)
        profile = None
        if grant.scope == WeChatScope.userinfo.value:
            try:
                profile = await wechat.oauth.userinfo(grant)
            except ScopeRefused:
                profile = None
    except SignInAgain:
        raise Forbidden(
            _("This WeChat sign-in was used already or has expired. Please try again."),
            code="wechat_code_refused",
        ) from None
    except WeChatUnavailable:
        raise ProviderUnavailable(
            _("WeChat did not answer. Please try again in a moment."), code="wechat_unavailable"
        ) from None
    response = RedirectResponse(next_url, status_code=303)
    cookies.forget(response, settings, NONCE_COOKIE)
    if grant.is_snapshotuser:  # a snapshot page's stand-in, not the person: stay a guest
        return response
    async with unit(request) as session:
        user = await identities.sign_in(session, wechat.appid, grant.openid, profile)
        await start_web_session(session, settings, user, response)
        await guest_cart.merge_at_login(session, request, response, user)
        await guest_source.bind_at_login(session, request, response, user)
    return response


# Binding a phone.


def phone_page(request: Request, next_url: str) -> "partial[HTMLResponse]":
    """The page binding a phone, for `next_url`; call it with the form's state."""
    return partial(phone_form_page, request, "accounts/bind_phone.html", next_url=next_url)


@router.get("/me/phone")
async def show_phone(request: Request, user: PageUser, next: str = "") -> Response:
    next_url = safe_next(next, "/")
    if user.phone is not None:
        return RedirectResponse(next_url, status_code=303)
    return phone_page(request, next_url)()


@router.post("/me/phone/code")
async def send_phone_code(
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    phone: Annotated[str, Form(max_length=32)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    page = phone_page(request, safe_next(next, "/"))
    return await send_code_then(request, session, settings, phone, page)


@router.post("/me/phone/login")
async def bind_phone(
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    phone: Annotated[str, Form(max_length=32)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    next_url = safe_next(next, "/")
    try:
        async with attempt(session):
            bound = await identities.bind_phone(session, settings, user, phone=phone, code=code)
    except AppError as error:
        code_sent = error.field not in ("phone", None)
        return phone_page(request, next_url)(phone=phone, code_sent=code_sent, error=error)
    response = RedirectResponse(next_url, status_code=303)
    if bound.merged:  # the signed-in account is gone with its logins: sign in as the phone's
        await start_web_session(session, settings, bound.user, response)
    return response


class SilentSignIn:
    """Inside WeChat, a storefront page or the login page asked for by a browser that is not
    signed in goes through the silent sign-in first, once a day: before the page cache, which
    answers the same page to everyone."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.on = settings.wechat_sign_in

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.on and scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            # Storefront pages, and the login page (whose `next` the sign-in comes back to).
            if path.startswith("/s/") or path == "/login":
                request = Request(scope)
                query = scope.get("query_string", b"").decode("latin-1")
                target = path + (f"?{query}" if query else "")
                redirect = silent_signin(request, get_settings(request), target)
                if redirect is not None:
                    await redirect(scope, receive, send)
                    return
        await self.app(scope, receive, send)
