"""Shop logos: any common image in, a clean square-bounded PNG out (no EXIF, no payload).
Decoded before the transaction that records the logo, off the event loop (`prepare`)."""

import asyncio
import io

from PIL import Image

from pocketshop import images, media
from pocketshop.config import Settings
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _


def process(settings: Settings, data: bytes) -> bytes:
    """Validate an uploaded logo and re-encode it; raises InvalidInput when it is unusable."""
    refusals = images.Refusals(
        empty=InvalidInput(_("The logo file is empty."), code="invalid_logo", field="logo"),
        not_an_image=InvalidInput(
            _("The logo must be a JPEG, PNG, WebP or GIF image."),
            code="invalid_logo",
            field="logo",
        ),
        too_large=InvalidInput(
            _("The logo is too large: at most %(mb)s MB.", mb=settings.logo_max_bytes // 2**20),
            code="logo_too_large",
            field="logo",
        ),
        too_many_pixels=InvalidInput(
            _("The logo has too many pixels."), code="logo_too_large", field="logo"
        ),
    )
    image = images.load(
        data,
        max_bytes=settings.logo_max_bytes,
        max_pixels=settings.logo_max_pixels,
        refusals=refusals,
    )
    logo = image.convert("RGBA")
    logo.thumbnail((settings.logo_size, settings.logo_size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    logo.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def prepare(settings: Settings, data: bytes | None) -> bytes | None:
    """The uploaded logo checked and re-encoded in a worker thread (CPU for a good part of a
    second); None when none was sent."""
    return await asyncio.to_thread(process, settings, data) if data else None


def stage(files: media.Files, png: bytes | None) -> str | None:
    return files.stage("logos", png, ".png") if png is not None else None
