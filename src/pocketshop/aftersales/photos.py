"""Photos of an after-sales case from a request (the API's and the buyer's pages): who asks
is checked first; the photos are decoded and re-encoded with no transaction open, staged, and
kept once the transaction that records them committed (as catalog.uploads)."""

from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import media
from pocketshop.accounts.models import User
from pocketshop.aftersales import queries, service
from pocketshop.catalog import photos
from pocketshop.catalog.photos import StoredPhoto
from pocketshop.config import Settings
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _
from pocketshop.web.routing import get_settings, unit

FOLDER = "aftersales"
# The buyer asking, for the request (API token or page login), inside a transaction.
UserOf = Callable[[AsyncSession, Request], Awaitable[User]]


async def read(settings: Settings, uploads: Sequence[UploadFile]) -> list[bytes]:
    """The uploads' bytes (an empty file input sends one empty part: not a photo)."""
    limit = settings.product_image_max_bytes + 1
    found = [await upload.read(limit) for upload in uploads if upload.filename]
    if len(found) > service.MAX_PHOTOS:
        raise InvalidInput(
            _("At most %(n)s photos.", n=service.MAX_PHOTOS),
            code="too_many_photos",
            field="photos",
        )
    return found


async def add(
    request: Request, user_of: UserOf, public_id: str, uploads: Sequence[UploadFile]
) -> None:
    settings = get_settings(request)
    data = await read(settings, uploads)
    async with unit(request, write=False) as session:
        await queries.get_for_buyer_or_404(session, await user_of(session, request), public_id)
    if not data:
        raise InvalidInput(_("Choose a photo."), code="no_photos", field="photos")
    prepared = await photos.prepare(settings, data)
    with media.staged(settings) as files:
        stored = [photos.stage(files, photo, FOLDER) for photo in prepared]
        async with unit(request) as session:
            user = await user_of(session, request)
            await service.add_photos(session, user, public_id, stored)


async def apply(
    request: Request,
    user_of: UserOf,
    number: str,
    application: service.Application,
    uploads: Sequence[UploadFile],
) -> str:
    """A new case with its photos (the buyer's application form, which has checked who asks);
    its public id."""
    settings = get_settings(request)
    prepared = await photos.prepare(settings, await read(settings, uploads))
    with media.staged(settings) as files:
        stored: list[StoredPhoto] = [photos.stage(files, photo, FOLDER) for photo in prepared]
        async with unit(request) as session:
            user = await user_of(session, request)
            case = await service.apply(session, settings, user, number, application, stored)
            return case.public_id
