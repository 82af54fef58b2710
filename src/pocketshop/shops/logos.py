"""Shop logos: any common image in, a clean square-bounded PNG out (no EXIF, no payload)."""

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from pocketshop.config import Settings
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})


def process(settings: Settings, data: bytes) -> bytes:
    """Validate an uploaded logo and re-encode it; raises InvalidInput when it is unusable."""
    if not data:
        raise InvalidInput(_("The logo file is empty."), code="invalid_logo", field="logo")
    if len(data) > settings.logo_max_bytes:
        raise InvalidInput(
            _("The logo is too large: at most %(mb)s MB.", mb=settings.logo_max_bytes // 2**20),
            code="logo_too_large",
            field="logo",
        )
    not_an_image = InvalidInput(
        _("The logo must be a JPEG, PNG, WebP or GIF image."), code="invalid_logo", field="logo"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise not_an_image
            if image.width * image.height > settings.logo_max_pixels:
                raise InvalidInput(
                    _("The logo has too many pixels."), code="logo_too_large", field="logo"
                )
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise not_an_image from exc

    logo = ImageOps.exif_transpose(image).convert("RGBA")
    logo.thumbnail((settings.logo_size, settings.logo_size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    logo.save(out, format="PNG", optimize=True)
    return out.getvalue()
