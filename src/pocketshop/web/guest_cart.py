"""A guest's cart lives in a signed cookie (`ps_cart`), one map of SKUs per shop, until the
guest logs in: then it is merged into the buyer's cart and the cookie is cleared."""

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.orders import cart
from pocketshop.orders.cart import GuestCart
from pocketshop.web import cookies

CART_COOKIE = "ps_cart"
CART_DAYS = 30


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secrets.secret_key, salt="pocketshop.cart")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def read(request: Request) -> GuestCart:
    raw = request.cookies.get(CART_COOKIE)
    if not raw:
        return {}
    try:
        data = _serializer(_settings(request)).loads(raw)
    except BadSignature:
        return {}
    return cart.parse_guest(data)


def write(request: Request, response: Response, guest: GuestCart) -> None:
    settings = _settings(request)
    if not guest:
        cookies.forget(response, settings, CART_COOKIE)
        return
    cookies.keep(
        response, settings, CART_COOKIE, _serializer(settings).dumps(guest), days=CART_DAYS
    )


async def merge_at_login(
    session: AsyncSession, request: Request, response: Response, user: User
) -> None:
    """Called by every login form: what the guest put in carts joins the buyer's carts."""
    if CART_COOKIE not in request.cookies:
        return
    await cart.merge_guest(session, user, read(request))
    cookies.forget(response, _settings(request), CART_COOKIE)
