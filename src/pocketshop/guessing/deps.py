"""The routes' side: a route that looks up an order, a payment or a payment request by the
number in its path declares `dependencies=[LimitMisses]`. Before the lookup, who asks is
checked (429 past the limit): in the request's transaction, or on an OutsideRoute at the
start of each transaction its handler opens (routing.unit), so that no transaction is spent
on the check alone and a handler that answers a refusal with another lookup is checked there
too. When the lookup found nothing (404), the miss is counted in a transaction of its own,
after the request's own was rolled back, before the answer leaves. The counts live in the
database, so every server process sees the same ones."""

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
    user_id = await accounts.user_id_for_token(session, token, kind) if token else None
    askers = service.askers(user_id, client_ip(request))
    await service.check(session, settings, askers, clock.now())
    return askers


async def limit_misses(request: Request) -> AsyncIterator[None]:
    db: Database = request.app.state.db
    askers: tuple[str, ...] = ()

    async def check(session: AsyncSession) -> None:
        nonlocal askers
        askers = await _askers(session, request)

    if isinstance(request.scope.get("route"), OutsideRoute):
        request.state.unit_checks = (check,)  # nothing is open yet
    else:
        await check(request.state.session)
    try:
        yield
    except NotFound as missed:
        if missed.code in MISSES and askers:
            async with db.transaction() as session:
                await service.count_miss(session, get_settings(request), askers, clock.now())
        raise


LimitMisses = Depends(limit_misses)
