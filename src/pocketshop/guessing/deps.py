"""The routes' side: a route that looks up an order, a payment or a payment request by the
number in its path declares `dependencies=[LimitMisses]`. Before the lookup, who asks is
checked (429 past the limit); when the lookup found nothing (404), the miss is counted in a
transaction of its own, after the request's own was rolled back, before the answer leaves.
The counts live in the database, so every server process sees the same ones."""

from collections.abc import AsyncIterator

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import bearer_token, session_cookie_token
from pocketshop.accounts.service import SessionKind
from pocketshop.db import Database
from pocketshop.errors import NotFound
from pocketshop.guessing import service
from pocketshop.web.routing import OutsideRoute, client_ip, get_settings

# The answers that say a number leads nowhere (for this asker). Others from the same routes
# (a provider not offered, a shop's slug) guess nothing.
MISSES = frozenset(
    {"order_not_found", "order_not_shippable", "payment_not_found", "payment_request_not_found"}
)


async def _askers(session: AsyncSession, request: Request) -> tuple[str, ...]:
    settings = get_settings(request)
    if request.url.path.startswith("/api/"):
        token, kind = bearer_token(request), SessionKind.api
    else:
        token, kind = session_cookie_token(request, settings), SessionKind.web
    # The same (cached) read the route's own login check makes.
    user = await accounts.user_for_token(session, token, kind) if token else None
    askers = service.askers(None if user is None else user.id, client_ip(request))
    await service.check(session, settings, askers, clock.now())
    return askers


async def limit_misses(request: Request) -> AsyncIterator[None]:
    db: Database = request.app.state.db
    if isinstance(request.scope.get("route"), OutsideRoute):
        # Its handler opens its own transactions: nothing is open yet.
        async with db.transaction(write=False) as session:
            askers = await _askers(session, request)
    else:
        askers = await _askers(request.state.session, request)
    try:
        yield
    except NotFound as missed:
        if missed.code in MISSES:
            async with db.transaction() as session:
                await service.count_miss(session, get_settings(request), askers, clock.now())
        raise


LimitMisses = Depends(limit_misses)
