"""The merchant's own shop, taken from the logged-in user: never from the request."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import ApiUser, PageUser, page_user_in
from pocketshop.accounts.models import User
from pocketshop.errors import Forbidden
from pocketshop.i18n import _
from pocketshop.shops import service
from pocketshop.shops.models import Shop
from pocketshop.web.routing import Session, get_settings


async def own_shop_in(session: AsyncSession, user: User) -> Shop:
    """The user's own shop, or 403 `not_a_merchant` (a buyer on a merchant's route): for a
    route that opens its own transactions."""
    shop = await service.get_for_owner(session, user)
    if shop is None:
        # Pages turn this code into a redirect to the onboarding steps.
        raise Forbidden(_("You have not opened a shop yet."), code="not_a_merchant")
    return shop


async def console_shop_in(session: AsyncSession, request: Request) -> Shop:
    """The logged-in merchant's shop, for a console route that opens its own transactions."""
    user = await page_user_in(session, request, get_settings(request))
    return await own_shop_in(session, user)


async def api_shop(session: Session, user: ApiUser) -> Shop:
    return await own_shop_in(session, user)


async def page_shop(session: Session, user: PageUser) -> Shop:
    return await own_shop_in(session, user)


MerchantShop = Annotated[Shop, Depends(api_shop)]
ConsoleShop = Annotated[Shop, Depends(page_shop)]
