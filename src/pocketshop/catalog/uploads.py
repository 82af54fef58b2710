"""Product photos from a request (the API's and the console's): who asks is checked first;
the photos are decoded and re-encoded with no transaction open, in worker threads, so no
checkout waits behind them; their files are staged, recorded in one transaction, and kept
once it committed (removed if it did not). The routes' boundary, like payments.calls."""

from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from pocketshop import media
from pocketshop.catalog import photos, service
from pocketshop.catalog.models import Product
from pocketshop.catalog.service import ProductInput, ProductStatus
from pocketshop.shops.models import Shop
from pocketshop.web.routing import get_settings, unit

# The merchant's own shop, for the request (API token or page login), inside a transaction.
ShopOf = Callable[[AsyncSession, Request], Awaitable[Shop]]


async def read_uploads(request: Request, files: Sequence[UploadFile] | FormData) -> list[bytes]:
    """The chosen files' bytes, each read to one byte past the limit (refused when decoded).
    Browsers send one empty part when no file was chosen: left out."""
    limit = get_settings(request).product_image_max_bytes + 1
    chosen = files.getlist("images") if isinstance(files, FormData) else files
    return [
        await upload.read(limit)
        for upload in chosen
        if isinstance(upload, UploadFile) and upload.filename
    ]


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


async def create_product(
    request: Request, shop_of: ShopOf, data: ProductInput, uploads: list[bytes], *, publish: bool
) -> Product:
    """A new product with its photos (none is fine for a draft), on sale at once with
    `publish`; all or nothing: a bad photo or a refused field creates nothing and keeps no
    file."""
    settings = get_settings(request)
    async with unit(request, write=False) as session:
        await shop_of(session, request)  # who asks, before any decoding
    prepared = await photos.prepare(settings, uploads)
    with media.staged(settings) as files:
        stored = [photos.stage(files, photo) for photo in prepared]
        async with unit(request) as session:
            shop = await shop_of(session, request)
            product = await service.create(session, shop, data, user_id=shop.owner_id)
            if stored:
                await service.add_images(session, shop, product.public_id, stored)
            if publish:
                product = await service.set_status(
                    session, shop, product.public_id, ProductStatus.on_sale
                )
    return product
