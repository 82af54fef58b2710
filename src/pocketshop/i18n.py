"""Gettext through Babel. zh_CN (default) and en ship; catalogs are read from the .po files.

The current request's locale lives in a context variable, set by `LocaleMiddleware`, so
services, schemas and templates translate with the plain `_()` below.
"""

import io
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED_LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_COOKIE = "ps_lang"

_current: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def get_locale() -> str:
    return _current.get()


def set_locale(locale: str) -> None:
    _current.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)


@contextmanager
def using(locale: str) -> Iterator[None]:
    """Translate in `locale` inside the block (a message for someone other than the asker)."""
    token = _current.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str, **variables: Any) -> str:
    text = translations(_current.get()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(_current.get()).ungettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated later, where it is shown."""
    return message


def normalise(code: str | None) -> str | None:
    """Map 'zh-cn', 'zh_Hans_CN', 'en-US' … to a supported locale, or None."""
    if not code:
        return None
    try:
        parsed = Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if parsed.language == "zh":
        return "zh_CN"
    if parsed.language == "en":
        return "en"
    return None


# Browsers send a handful of distinct headers; parsing one costs more than a cached page.
@lru_cache(maxsize=512)
def negotiate(accept_language: str, default: str = DEFAULT_LOCALE) -> str:
    """Pick from Accept-Language by quality, e.g. 'en-US,en;q=0.9,zh;q=0.5' -> 'en'."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        lang, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        locale = normalise(lang.strip())
        if locale and quality > 0:
            ranked.append((-quality, index, locale))
    return sorted(ranked)[0][2] if ranked else default


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


_COOKIE_PREFIX = LOCALE_COOKIE.encode() + b"="


@lru_cache(maxsize=64)
def _normalised(code: str) -> str | None:
    return normalise(code)


def _cookie_choice(header: str) -> str | None:
    """The supported locale in the `ps_lang` cookie of a Cookie header, if any."""
    for part in header.split(";"):
        name, _sep, value = part.strip().partition("=")
        if name == LOCALE_COOKIE:
            return _normalised(value.strip().strip('"')[:35])
    return None


class LocaleMiddleware:
    """Chooses the locale: the user's choice (cookie), else Accept-Language, else default."""

    def __init__(self, app: ASGIApp, default: str = DEFAULT_LOCALE) -> None:
        self.app = app
        self.default = default

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] in ("http", "websocket"):
            chosen = None
            accept_language = ""
            for name, value in scope["headers"]:
                if name == b"cookie" and _COOKIE_PREFIX in value:
                    chosen = _cookie_choice(value.decode("latin-1")) or chosen
                elif name == b"accept-language":
                    accept_language = value.decode("latin-1")
            locale = chosen or negotiate(accept_language, self.default)
            set_locale(locale)
            scope.setdefault("state", {})["locale"] = locale
        await self.app(scope, receive, send)
