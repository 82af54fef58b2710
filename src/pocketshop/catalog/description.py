"""A product's description: formatted text (paragraphs, line breaks, bold, italic, lists, a
small heading), stored as HTML cleaned to that and nothing else.

`clean` is the one cleaner, for the console's editor and the API alike; `display` is the one
place the stored HTML is marked safe, after cleaning it once more. Descriptions stored as
plain text (before formatting existed) show as paragraphs. Without JavaScript the editor is a
plain text box: `to_text` and `from_text` turn the formatting into lines and back (blank lines
between paragraphs, "• " and "1. " for list items).
"""

import html
import re
from html.parser import HTMLParser

import nh3
from markupsafe import Markup

from pocketshop.errors import InvalidInput
from pocketshop.i18n import _

DESCRIPTION_MAX = 20_000
# No attributes at all: no links, images, styles or handlers.
ALLOWED_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "ul", "ol", "li", "h3"})
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z]")
# Browsers' editors and pasted text wrap lines in <div>s: kept as paragraphs.
DIV_TAG = re.compile(r"<(/?)\s*div\b", re.IGNORECASE)
BULLET = re.compile(r"^[•·\-*]\s+")
NUMBERED = re.compile(r"^\d{1,3}[.)、]\s*")
EMPTY_PARAGRAPH = re.compile(r"<p>(?:\s|<br>)*</p>")


def sanitize(text: str) -> str:
    """The allowed formatting of `text` (HTML), everything else dropped; never raises."""
    cleaned = nh3.clean(
        DIV_TAG.sub(r"<\1p", text or ""),
        tags=set(ALLOWED_TAGS),
        attributes={},
        strip_comments=True,
        link_rel=None,
    )
    cleaned = EMPTY_PARAGRAPH.sub("", cleaned).strip()
    # An editor left empty still holds an empty paragraph or a <br>.
    return cleaned if _words(cleaned) else ""


def clean(text: str) -> str:
    """What the merchant sent (HTML), cleaned for storing; refused (422) when too long."""
    if len(text or "") > DESCRIPTION_MAX:
        raise InvalidInput(
            _("The description is too long: at most %(max)s characters.", max=DESCRIPTION_MAX),
            code="description_too_long",
            field="description",
        )
    return sanitize(text)


def as_html(stored: str) -> str:
    """A stored description as clean HTML (plain text from before becomes paragraphs)."""
    return sanitize(stored if HTML_TAG.search(stored or "") else from_text(stored or ""))


def display(stored: str) -> Markup:
    """A stored description ready for a page: cleaned, then marked safe."""
    return Markup(as_html(stored))  # noqa: S704 - cleaned to ALLOWED_TAGS just above


def from_text(text: str) -> str:
    """Plain text as HTML: blank lines separate paragraphs; a block whose every line starts
    with "• " or "- " is a bulleted list, with "1. " a numbered one."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    parts = []
    for block in blocks:
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        for marker, tag in ((BULLET, "ul"), (NUMBERED, "ol")):
            if all(marker.match(line) for line in lines):
                items = "".join(f"<li>{html.escape(marker.sub('', line))}</li>" for line in lines)
                parts.append(f"<{tag}>{items}</{tag}>")
                break
        else:
            parts.append("<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>")
    return "".join(parts)


def to_text(stored: str) -> str:
    """A stored description as the plain text box shows it (the inverse of `from_text`, the
    bold and italics left out)."""
    if not HTML_TAG.search(stored or ""):
        return stored or ""
    reader = _TextReader()
    reader.feed(as_html(stored))
    reader.close()
    return reader.text()


def _words(cleaned: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", cleaned)).strip()


class _TextReader(HTMLParser):
    """Blocks (paragraphs, headings, lists) of cleaned HTML as lines of text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.line = ""
        self.lists: list[list[int]] = []  # per open list: [is numbered, items so far]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"p", "h3"}:
            self._end_block()
        elif tag in {"ul", "ol"}:
            self._end_block()
            self.lists.append([int(tag == "ol"), 0])
        elif tag == "li":
            self._end_line()
            if self.lists:
                numbered, count = self.lists[-1]
                self.lists[-1][1] = count + 1
                self.line = f"{count + 1}. " if numbered else "• "
        elif tag == "br":
            self.line += "\n"

    def handle_endtag(self, tag: str) -> None:
        if tag in {"p", "h3"}:
            self._end_block()
        elif tag in {"ul", "ol"}:
            self._end_line()
            if self.lists:
                self.lists.pop()
            if not self.lists:
                self._end_block()
        elif tag == "li":
            self._end_line()

    def handle_data(self, data: str) -> None:
        self.line += data

    def _end_line(self) -> None:
        if self.line.strip():
            if self.lists:
                self.blocks.append("\n" + self.line.strip())
            else:
                self.blocks.append(self.line.strip())
        self.line = ""

    def _end_block(self) -> None:
        self._end_line()
        self.blocks.append("")

    def text(self) -> str:
        self._end_line()
        joined = ""
        for block in self.blocks:
            if block == "":
                if joined and not joined.endswith("\n\n"):
                    joined += "\n\n"
            elif block.startswith("\n"):  # a list item: on the next line of its block
                joined += block[1:] if not joined or joined.endswith("\n\n") else block
            else:
                joined += block
        return joined.strip()
