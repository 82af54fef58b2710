"""Adding product photos from a request (the API's and the console's): who asks is checked
first; the photos are decoded and re-encoded with no transaction open, in worker threads, so
no checkout waits behind them; their files are staged, recorded in one transaction, and kept
once it committed (removed if it did not). The routes' boundary, like payments.calls."""

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import media
from pocketshop.catalog import photos, service
from pocketshop.shops.models import Shop
from pocketshop.web.routing import get_settings, unit

# The merchant's own shop, for the request (API token or page login), inside a transaction.
ShopOf = Callable[[AsyncSession, Request], Awaitable[Shop]]


async def add_photos(
    request: Request, shop_of: ShopOf, public_id: str, uploads: list[bytes]
) -> None:
    settings = get_settings(request)
    async with unit(request, write=False) as session:
        await service.get_or_404(session, await shop_of(session, request), public_id)
    if not uploads:
        raise service.no_images()
    prepared = await photos.prepare(settings, uploads)
    with media.staged(settings) as files:
        stored = [photos.stage(files, photo) for photo in prepared]
        async with unit(request) as session:
            await service.add_images(session, await shop_of(session, request), public_id, stored)
