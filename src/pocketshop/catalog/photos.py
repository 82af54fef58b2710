"""Product photos: validated, upright, EXIF stripped, stored with a thumbnail.

Decoding and re-encoding (CPU for a good part of a second a photo) happen before the
transaction that records them, in worker threads (`prepare`); their files are staged for it
(`stage`, media.staged)."""

import asyncio
from dataclasses import dataclass

from pocketshop import images, media
from pocketshop.config import Settings
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _


@dataclass(frozen=True)
class ProcessedPhoto:
    full: bytes
    thumb: bytes
    width: int
    height: int


@dataclass(frozen=True)
class StoredPhoto:
    key: str
    thumb_key: str
    width: int
    height: int


def process(settings: Settings, data: bytes) -> ProcessedPhoto:
    """Validate and re-encode one upload (CPU work: call it off the event loop)."""
    refusals = images.Refusals(
        empty=InvalidInput(_("The photo file is empty."), code="invalid_image", field="images"),
        not_an_image=InvalidInput(
            _("Photos must be JPEG, PNG, WebP or GIF images."), code="invalid_image", field="images"
        ),
        too_large=InvalidInput(
            _(
                "A photo is too large: at most %(mb)s MB each.",
                mb=settings.product_image_max_bytes // 2**20,
            ),
            code="image_too_large",
            field="images",
        ),
        too_many_pixels=InvalidInput(
            _("A photo has too many pixels."), code="image_too_large", field="images"
        ),
    )
    image = images.load(
        data,
        max_bytes=settings.product_image_max_bytes,
        max_pixels=settings.product_image_max_pixels,
        refusals=refusals,
    )
    full, width, height = images.to_jpeg(image, settings.product_image_size)
    thumb, _w, _h = images.to_jpeg(image, settings.product_thumb_size, quality=80)
    return ProcessedPhoto(full=full, thumb=thumb, width=width, height=height)


async def prepare(settings: Settings, uploads: list[bytes]) -> list[ProcessedPhoto]:
    """Every upload checked and re-encoded, off the event loop; refused (422) if any is
    unusable, before anything is stored."""
    return [await asyncio.to_thread(process, settings, data) for data in uploads]


def stage(files: media.Files, photo: ProcessedPhoto, folder: str = "products") -> StoredPhoto:
    return StoredPhoto(
        key=files.stage(folder, photo.full, ".jpg"),
        thumb_key=files.stage(f"{folder}/thumbs", photo.thumb, ".jpg"),
        width=photo.width,
        height=photo.height,
    )
