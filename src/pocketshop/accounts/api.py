from typing import Annotated

from fastapi import Query, Request, Response, status

from pocketshop import clock
from pocketshop.accounts import service
from pocketshop.accounts.deps import ApiUser, bearer_token
from pocketshop.accounts.models import User
from pocketshop.accounts.schemas import (
    LoginIn,
    SendCodeIn,
    SendCodeOut,
    TokenOut,
    UserOut,
    WxConfigOut,
)
from pocketshop.accounts.service import SessionKind
from pocketshop.accounts.wechat import WeChatSignIn, new_nonce, wx_config
from pocketshop.errors import InvalidInput, NotFound, ProviderUnavailable
from pocketshop.i18n import _
from pocketshop.web.routing import (
    AppSettings,
    Session,
    api_router,
    client_ip,
    get_settings,
    outside_router,
)
from pocketshop.wechat import WeChatUnavailable

router = api_router(prefix="/api/v1", tags=["accounts"])
# Routes that call WeChat: no transaction of theirs waits on it.
outside = outside_router(prefix="/api/v1", tags=["accounts"])
# What wx.config is asked to allow: the share cards (chats, Moments).
JS_API_LIST = ["updateAppMessageShareData", "updateTimelineShareData"]


def user_out(user: User) -> UserOut:
    return UserOut(id=user.public_id, phone=user.phone)


@router.post("/auth/sms-codes", status_code=status.HTTP_202_ACCEPTED)
async def send_code(
    body: SendCodeIn, request: Request, session: Session, settings: AppSettings
) -> SendCodeOut:
    """Send a 6-digit login code by SMS (valid 5 minutes, resend after 60 s)."""
    sent = await service.send_login_code(session, settings, phone=body.phone, ip=client_ip(request))
    return SendCodeOut(phone=sent.phone, expires_in=sent.expires_in, resend_after=sent.resend_after)


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED)
async def log_in(body: LoginIn, session: Session, settings: AppSettings) -> TokenOut:
    """Exchange phone + code for a bearer token; creates the account on first login."""
    user = await service.verify_login_code(session, settings, phone=body.phone, code=body.code)
    token, auth = await service.start_session(session, settings, user, SessionKind.api)
    return TokenOut(access_token=token, expires_at=auth.expires_at, user=user_out(user))


@router.delete("/auth/tokens/current", status_code=status.HTTP_204_NO_CONTENT)
async def log_out(request: Request, user: ApiUser, session: Session) -> Response:
    token = bearer_token(request)
    assert token is not None  # ApiUser already required it
    await service.end_session(session, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
async def me(user: ApiUser) -> UserOut:
    return user_out(user)


def wechat_sign_in(request: Request) -> WeChatSignIn:
    """The server's Official Account; 404 where none is configured."""
    wechat: WeChatSignIn | None = request.app.state.runtime.wechat
    if wechat is None:
        raise NotFound(_("WeChat is not set up on this site."), code="wechat_off")
    return wechat


@outside.get("/wechat/js-config")
async def js_config(
    request: Request,
    url: Annotated[str, Query(max_length=2000, description="the page's address, without #…")],
) -> WxConfigOut:
    """What a page inside WeChat passes to `wx.config` to set its share cards, signed with the
    Official Account's jsapi_ticket for `url`, one of this site's pages. 404 without an
    Official Account; 502 when WeChat does not answer."""
    settings = get_settings(request)
    wechat = wechat_sign_in(request)
    if not url.startswith(f"{settings.own_url}/"):
        raise InvalidInput(
            _("Only this site's pages are signed."), code="url_not_ours", field="url"
        )
    try:
        ticket = await wechat.tickets.current()
    except WeChatUnavailable:
        raise ProviderUnavailable(
            _("WeChat did not answer. Please try again in a moment."), code="wechat_unavailable"
        ) from None
    config = wx_config(wechat.appid, ticket, url, new_nonce(), int(clock.now().timestamp()))
    return WxConfigOut(
        appId=str(config["appId"]),
        timestamp=int(config["timestamp"]),
        nonceStr=str(config["nonceStr"]),
        signature=str(config["signature"]),
        jsApiList=JS_API_LIST,
    )
