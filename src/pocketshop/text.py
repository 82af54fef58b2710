"""Text as typed by people: cleaned of invisible controls, NFC-normalised, measured in the
characters a person sees (grapheme clusters), folded for search."""

import unicodedata

import regex

# One user-perceived character: 👩‍👩‍👧‍👦, 🇨🇳, 1️⃣ or é (e + U+0301) each count as one.
_GRAPHEME = regex.compile(r"\X")
# Characters that show nothing and only hide or reorder what is shown: controls (white space
# is folded apart), surrogates, private use, noncharacters and format characters, among them
# the bidirectional overrides, isolates and marks (U+202A–202E, U+2066–2069, U+200E/F,
# U+061C) that make "gpj.exe" look like "exe.jpg". Kept: the zero-width joiner and non-joiner,
# which emoji sequences and Indic and Persian scripts need, and the tag characters (decided
# per cluster below). Variation selectors and keycaps are marks, not format characters.
_INVISIBLE = regex.compile(
    r"[[\p{Cc}\p{Cs}\p{Co}\p{Noncharacter_Code_Point}\p{Cf}]--[\s\u200c\u200d\U000e0020-\U000e007f]]",
    regex.V1,
)
_TAGS = regex.compile(r"[\U000e0020-\U000e007f]")
# Tag characters spell subdivision flags (🏴 + "gbsct" + cancel tag = 🏴󠁧󠁢󠁳󠁣󠁴󠁿); anywhere else they
# are invisible ASCII that could smuggle text past a reader.
_TAG_BASE = "\U0001f3f4"

# A length limit counts grapheme clusters; each also carries a hard cap in code points, this
# many per character, which the API schema states as maxLength and the columns are sized to.
CODE_POINTS_PER_CHARACTER = 4


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def clean_line(value: str) -> str:
    """Drop invisible characters, then strip and fold runs of white space (in this order, so
    that 'a \\x00 b' becomes 'a b', not 'a  b'), then compose to NFC."""
    text = _INVISIBLE.sub("", value or "")
    if _TAGS.search(text):
        text = "".join(
            cluster if cluster.startswith(_TAG_BASE) else _TAGS.sub("", cluster)
            for cluster in _GRAPHEME.findall(text)
        )
    return unicodedata.normalize("NFC", " ".join(text.split()))


def characters(text: str) -> int:
    """How many characters a person sees in `text` (extended grapheme clusters)."""
    return len(_GRAPHEME.findall(text))


def code_point_cap(limit: int) -> int:
    """The most code points a text of `limit` characters may have."""
    return limit * CODE_POINTS_PER_CHARACTER


def too_long(text: str, limit: int) -> bool:
    """More than `limit` characters as a person counts them, or past the code-point cap."""
    return len(text) > code_point_cap(limit) or characters(text) > limit


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with % and _ (and the escape) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
