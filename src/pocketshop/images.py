"""Uploaded pictures: validated with Pillow, turned upright, re-encoded without EXIF.

Re-encoding drops everything but pixels (EXIF with GPS positions, embedded payloads).
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from pocketshop.errors import InvalidInput

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


@dataclass(frozen=True)
class Refusals:
    """The errors to raise, worded for what is being uploaded (a logo, a product photo)."""

    empty: InvalidInput
    not_an_image: InvalidInput
    too_large: InvalidInput
    too_many_pixels: InvalidInput


def load(data: bytes, *, max_bytes: int, max_pixels: int, refusals: Refusals) -> Image.Image:
    """Decode an upload and turn it upright; raises one of `refusals` when it is unusable."""
    if not data:
        raise refusals.empty
    if len(data) > max_bytes:
        raise refusals.too_large
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise refusals.not_an_image
            if image.width * image.height > max_pixels:
                raise refusals.too_many_pixels
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise refusals.not_an_image from exc
    return upright(image)


def upright(image: Image.Image) -> Image.Image:
    """Turn the picture as its EXIF orientation says. ImageOps.exif_transpose also rewrites
    the EXIF block, which raises on malformed EXIF that phones and editors do write; the EXIF
    is dropped anyway, so only the orientation is read, and unreadable EXIF is ignored."""
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # any broken EXIF just means "no orientation"
        return image
    method = TRANSPOSE_FOR_ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image


def to_jpeg(image: Image.Image, max_side: int, *, quality: int = 85) -> tuple[bytes, int, int]:
    """A JPEG no larger than max_side on either side, transparency flattened onto white."""
    picture = image.convert("RGBA") if image.mode in ("P", "LA", "RGBA") else image.convert("RGB")
    if picture.mode == "RGBA":
        background = Image.new("RGB", picture.size, "white")
        background.paste(picture, mask=picture.getchannel("A"))
        picture = background
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue(), picture.width, picture.height
