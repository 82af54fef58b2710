"""Text as typed by people: cleaned of control characters, folded for search."""

import unicodedata


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def clean_line(value: str) -> str:
    """Drop control and format characters, then strip and fold runs of white space (in this
    order, so that 'a \x00 b' becomes 'a b', not 'a  b')."""
    text = "".join(ch for ch in (value or "") if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with % and _ (and the escape) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
