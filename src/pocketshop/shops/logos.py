"""Shop logos: any common image in, a clean square-bounded PNG out (no EXIF, no payload)."""

import io
import warnings

from PIL import Image, UnidentifiedImageError

from pocketshop.config import Settings
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _

# MPO is how Pillow names a JPEG with extra pictures (depth maps, HDR gain maps): what many
# phone cameras save. Only the first picture is read.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF"})
ORIENTATION_TAG = 0x0112
TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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

    logo = _upright(image).convert("RGBA")
    logo.thumbnail((settings.logo_size, settings.logo_size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    logo.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _upright(image: Image.Image) -> Image.Image:
    """Turn the picture as its EXIF orientation says. ImageOps.exif_transpose also rewrites
    the EXIF block, which raises on malformed EXIF that phones and editors do write; the EXIF
    is dropped anyway, so only the orientation is read, and unreadable EXIF is ignored."""
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # any broken EXIF just means "no orientation"
        return image
    method = TRANSPOSE_FOR_ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image
