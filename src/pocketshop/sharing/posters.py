"""Share posters: a PNG a buyer saves and posts to Moments, where links do not travel: the
product's photo, its title and price, the shop's name and logo, and a QR code of the link.

Drawn server-side with Pillow in a CJK font (Chinese must render as characters, never as
.notdef boxes), and kept on disk per version of what it shows: a digest of everything drawn
names the file, so a changed title, price, photo or logo makes a new poster and an unchanged
one is drawn once.
"""

import hashlib
import io
import os
import shutil
import subprocess
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont, ImageOps

from pocketshop.config import Settings
from pocketshop.errors import AppError
from pocketshop.i18n import _

WIDTH, HEIGHT = 750, 1200
PHOTO = 620  # the photo across the top, this tall
MARGIN = 40
QR_SIZE = 220
BAND = 880  # where the shop's name, the hint and the QR code begin
INK, MUTED, PRICE, PAPER, LINE = "#1f2328", "#6b7280", "#e0361c", "#ffffff", "#e5e7eb"
# Where Debian's fonts-noto-cjk and common systems keep a CJK font (settings.poster_font first).
KNOWN_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
VERSION = "1"  # bump when the layout changes: every poster is drawn again
# A poster file is kept this long after it was drawn; one still shared is drawn again once.
KEEP = timedelta(days=30)
# A drawing's part file older than this was left by a crash.
PART_KEEP = timedelta(hours=1)


@dataclass(frozen=True)
class Poster:
    """What one poster shows. Paths are files on this server (media), or None."""

    title: str
    price: str
    shop_name: str
    link: str
    photo: Path | None
    logo: Path | None
    hint: str  # under the QR code: how to open it

    def digest(self) -> str:
        parts = asdict(self) | {"version": VERSION}
        for name in ("photo", "logo"):  # a file's own bytes may change under one name
            path = parts[name]
            parts[name] = f"{path}:{path.stat().st_mtime_ns}" if path else ""
        return hashlib.sha256(repr(sorted(parts.items())).encode()).hexdigest()[:32]


def font_path(settings: Settings) -> str:
    """A font with Chinese glyphs: the configured one, a known path, or fontconfig's match."""
    candidates = [settings.poster_font] if settings.poster_font else []
    candidates += list(KNOWN_FONTS)
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate
    fc_match = shutil.which("fc-match")
    if fc_match:
        found = subprocess.run(  # noqa: S603 -- fontconfig's own tool, fixed arguments
            [fc_match, "-f", "%{file}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        if found and os.path.isfile(found):
            return found
    raise AppError(
        _("Posters need a Chinese font on the server (Noto Sans CJK)."),
        code="poster_font_missing",
        status_code=503,
    )


def png(settings: Settings, poster: Poster) -> tuple[bytes, str]:
    """The poster's PNG and its digest (an ETag): read from disk when drawn before."""
    digest = poster.digest()
    kept = settings.media_path / "posters" / f"{digest}.png"
    if kept.is_file():
        return kept.read_bytes(), digest
    drawn = draw(poster, font_path(settings))
    kept.parent.mkdir(parents=True, exist_ok=True)
    part = kept.with_name(f"{digest}.{uuid.uuid4().hex}.part")  # one per drawing
    part.write_bytes(drawn)
    part.replace(kept)  # atomic: a concurrent reader sees all of it or none
    return drawn, digest


def prune(settings: Settings, now: datetime) -> int:
    """Remove posters drawn more than KEEP ago (each edit of a product leaves its old poster
    behind) and parts a crash left; how many files went. Posters are drawn again on demand."""
    folder = settings.media_path / "posters"
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(folder):
        age = now.timestamp() - entry.stat().st_mtime
        keep = PART_KEEP if entry.name.endswith(".part") else KEEP
        if age > keep.total_seconds():
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


def draw(poster: Poster, font_file: str) -> bytes:
    canvas = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    pen = ImageDraw.Draw(canvas)
    if poster.photo is not None:
        with Image.open(poster.photo) as photo:
            canvas.paste(ImageOps.fit(photo.convert("RGB"), (WIDTH, PHOTO)), (0, 0))
    else:
        pen.rectangle((0, 0, WIDTH, PHOTO), fill="#f3f4f6")
    title = ImageFont.truetype(font_file, 40)
    y = PHOTO + 28
    for line in wrap(poster.title, title, WIDTH - 2 * MARGIN, lines=2):
        pen.text((MARGIN, y), line, font=title, fill=INK)
        y += 54
    pen.text((MARGIN, y + 8), poster.price, font=ImageFont.truetype(font_file, 52), fill=PRICE)

    band = BAND
    pen.line((MARGIN, band - 12, WIDTH - MARGIN, band - 12), fill=LINE, width=2)
    small = ImageFont.truetype(font_file, 30)
    name_x = MARGIN
    if poster.logo is not None:
        with Image.open(poster.logo) as logo:
            round_logo = ImageOps.fit(logo.convert("RGB"), (88, 88))
        mask = Image.new("L", (88, 88), 0)
        ImageDraw.Draw(mask).ellipse((0, 0, 87, 87), fill=255)
        canvas.paste(round_logo, (MARGIN, band + 20), mask)
        name_x += 88 + 20
    for index, line in enumerate(wrap(poster.shop_name, small, 300, lines=2)):
        pen.text((name_x, band + 28 + index * 40), line, font=small, fill=INK)
    hint_font = ImageFont.truetype(font_file, 24)
    for index, line in enumerate(wrap(poster.hint, hint_font, 360, lines=2)):
        pen.text((MARGIN, band + 150 + index * 32), line, font=hint_font, fill=MUTED)

    qr = segno.make(poster.link, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=10, border=2)
    with Image.open(io.BytesIO(buffer.getvalue())) as code:
        sized = code.convert("RGB").resize((QR_SIZE, QR_SIZE), Image.Resampling.NEAREST)
    canvas.paste(sized, (WIDTH - MARGIN - QR_SIZE, HEIGHT - MARGIN - QR_SIZE))

    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int, *, lines: int) -> list[str]:
    """`text` in at most `lines` lines no wider than `width` px, the last cut with "…".
    Chinese breaks between any two characters; words of Latin text stay whole when they fit."""
    found: list[str] = []
    current = ""
    for char in text.replace("\n", " "):
        if font.getlength(current + char) <= width:
            current += char
            continue
        if len(found) == lines - 1:
            while current and font.getlength(current + "…") > width:
                current = current[:-1]
            return [*found, current + "…"]
        head, space, tail = current.rpartition(" ")
        if space and head and char != " ":
            found.append(head)
            current = tail + char
        else:
            found.append(current.rstrip())
            current = char.lstrip()
    return [*found, current] if current else found
