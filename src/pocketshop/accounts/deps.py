"""Who is asking: a bearer token on the JSON API, the signed session cookie on pages."""

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, Signer
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts import service
from pocketshop.accounts.models import User
from pocketshop.accounts.service import SessionKind
from pocketshop.config import Settings
from pocketshop.errors import Forbidden, Unauthorized
from pocketshop.i18n import _
from pocketshop.notifications import service as notifications
from pocketshop.shops import service as shops
from pocketshop.web.routing import AppSettings, Session

SESSION_COOKIE = "ps_session"


def cookie_signer(settings: Settings) -> Signer:
    return Signer(settings.secrets.secret_key, salt="pocketshop.session")


def bearer_token(request: Request) -> str | None:
    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def session_cookie_token(request: Request, settings: Settings) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return cookie_signer(settings).unsign(raw).decode()
    except BadSignature:
        return None


async def start_web_session(
    session: AsyncSession, settings: Settings, user: User, response: Response
) -> None:
    """Log a user in on this browser: a new web session and its signed, HttpOnly cookie."""
    token, auth = await service.start_session(session, settings, user, SessionKind.web)
    response.set_cookie(
        SESSION_COOKIE,
        cookie_signer(settings).sign(token).decode(),
        expires=auth.expires_at,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


# Declares the scheme in OpenAPI (so /docs can send a token); the check is api_user's own.
bearer_scheme = HTTPBearer(
    auto_error=False, description="`access_token` from `POST /api/v1/auth/tokens`"
)


async def api_user_in(session: AsyncSession, request: Request) -> User:
    """The bearer token's user, or 401: for a route that opens its own transactions."""
    token = bearer_token(request)
    user = await service.user_for_token(session, token, SessionKind.api) if token else None
    if user is None:
        raise Unauthorized(_("Log in first: send a valid bearer token."), code="not_authenticated")
    request.state.user = user
    return user


async def optional_page_user_in(
    session: AsyncSession, request: Request, settings: Settings
) -> User | None:
    token = session_cookie_token(request, settings)
    user = await service.user_for_token(session, token, SessionKind.web) if token else None
    request.state.user = user
    if user is not None:  # the top bar's: unread messages, and "my shop" or "open a shop"
        request.state.unread = await notifications.unread(session, user.id)
        request.state.owns_shop = await shops.owns_shop(session, user.id)
    return user


async def page_user_in(session: AsyncSession, request: Request, settings: Settings) -> User:
    """The logged-in visitor, or a redirect to the login page: for a route that opens its own
    transactions."""
    user = await optional_page_user_in(session, request, settings)
    if user is None:
        # The page error handler turns this into a redirect to the login page.
        raise Unauthorized(_("Please log in."), code="login_required")
    return user


async def api_user(
    request: Request,
    session: Session,
    # Declares the scheme in OpenAPI; the token is read by api_user_in.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    return await api_user_in(session, request)


async def optional_page_user(
    request: Request, session: Session, settings: AppSettings
) -> User | None:
    return await optional_page_user_in(session, request, settings)


async def page_user(
    request: Request, user: Annotated[User | None, Depends(optional_page_user)]
) -> User:
    if user is None:
        # The page error handler turns this into a redirect to the login page.
        raise Unauthorized(_("Please log in."), code="login_required")
    return user


async def operator_user(session: Session, user: Annotated[User, Depends(page_user)]) -> User:
    """A platform operator (`pocketshop operators add`); anyone else is refused."""
    if not await service.is_operator(session, user):
        raise Forbidden(_("This page is for the platform's operators."), code="not_operator")
    return user


ApiUser = Annotated[User, Depends(api_user)]
OperatorUser = Annotated[User, Depends(operator_user)]
PageUser = Annotated[User, Depends(page_user)]
OptionalPageUser = Annotated[User | None, Depends(optional_page_user)]
