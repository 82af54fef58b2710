"""Translations: every message in the source has a Chinese translation; the locale is chosen
from the ps_lang cookie, else Accept-Language, else zh_CN; pages and API errors follow it.

When the catalog test fails: run scripts/update-translations, translate what it lists in
src/pocketshop/locale/zh_CN/LC_MESSAGES/messages.po and remove any fuzzy flags.
"""

import re
from functools import cache
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi import FastAPI
from markupsafe import escape

from pocketshop.i18n import DEFAULT_LOCALE, LOCALE_COOKIE, LOCALE_DIR, negotiate, normalise
from tests.support import csrf_from, last_code

ROOT = Path(__file__).resolve().parent.parent
# Keep in step with KEYWORDS in scripts/update-translations.
KEYWORDS = {**DEFAULT_KEYWORDS, **parse_keywords(["_", "N_", "ngettext:1,2"])}
PLACEHOLDER = re.compile(r"%\((\w+)\)")
CJK = re.compile(r"[\u4e00-\u9fff]")


@cache
def read_catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        return read_po(po_file, locale=locale)


def extract_messages() -> dict[str | tuple[str, ...], list[str]]:
    """msgid (or (singular, plural)) -> where it is used, found as pybabel finds them."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def formats(text: str) -> bool:
    """True when `text % variables` works, as _() and the Jinja newstyle gettext do it."""
    try:
        text % dict.fromkeys(placeholders(text), 1)
    except (TypeError, ValueError, KeyError):
        return False
    return True


def zh(msgid: str) -> str:
    translated = read_catalog("zh_CN")[msgid]
    assert translated is not None, msgid
    assert isinstance(translated.string, str), msgid
    return translated.string


# -- the catalogs ------------------------------------------------------------------------


def test_extraction_finds_python_and_template_messages() -> None:
    found = extract_messages()
    assert len(found) > 50
    # One from a service, one marked with N_, one from a template: babel.cfg covers all three.
    for msgid in ("Page not found.", "China Merchants Bank", "Open your own shop"):
        assert msgid in found


def test_every_message_has_a_chinese_translation() -> None:
    catalog = read_catalog("zh_CN")
    problems = []
    for message_id, places in extract_messages().items():
        ids = message_id if isinstance(message_id, tuple) else (message_id,)
        where = f"{ids[0]!r} ({places[0]})"
        entry = catalog.get(ids[0])
        if entry is None:
            problems.append(f"missing: {where}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy: {where}")
        strings = (entry.string,) if isinstance(entry.string, str) else tuple(entry.string or "")
        expected = set().union(*(placeholders(msgid) for msgid in ids))
        for string in strings:
            if not string:
                problems.append(f"untranslated: {where}")
            elif placeholders(string) != expected:
                problems.append(f"placeholders {sorted(placeholders(string))}: {where}")
            elif all(formats(msgid) for msgid in ids) and not formats(string):
                problems.append(f"bad % formatting in {string!r}: {where}")
    assert not problems, (
        "zh_CN catalog is behind the source; run scripts/update-translations and translate:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_catalogs_have_no_fuzzy_entries(locale: str) -> None:
    assert [message.id for message in read_catalog(locale) if message.id and message.fuzzy] == []


def test_bank_names_are_official_chinese_names() -> None:
    assert zh("Industrial and Commercial Bank of China") == "中国工商银行"
    assert zh("China Merchants Bank") == "招商银行"


# -- choosing the locale -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("zh", "zh_CN"),
        ("zh-cn", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh_Hans_CN", "zh_CN"),
        ("zh-TW", "zh_CN"),
        ("zh-Hant-HK", "zh_CN"),
        ("fr", None),
        ("de-DE", None),
        ("*", None),
        ("", None),
        (None, None),
        ("!!!", None),
        ("en-", None),
        ("q=1", None),
    ],
)
def test_normalise(code: str | None, expected: str | None) -> None:
    assert normalise(code) == expected


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("en; q=0.9", "en"),
        ("zh-TW", "zh_CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("fr", DEFAULT_LOCALE),
        ("fr-FR,fr;q=0.9,en;q=0.8", "en"),  # first supported one, by quality
        ("zh;q=0.5,en;q=0.8", "en"),  # quality beats order
        ("en,zh", "en"),
        ("zh,en", "zh_CN"),  # equal quality: the first listed
        ("zh-CN;q=0,en;q=0.1", "en"),  # q=0 means "not this one"
        ("en;q=0", DEFAULT_LOCALE),
        ("en;q=0.0", DEFAULT_LOCALE),
        ("en;q=abc", DEFAULT_LOCALE),
        ("*", DEFAULT_LOCALE),
        ("", DEFAULT_LOCALE),
        (";;;,,,", DEFAULT_LOCALE),
        ("\x00garbage;q=;=,", DEFAULT_LOCALE),
    ],
)
def test_negotiate(accept_language: str, expected: str) -> None:
    assert negotiate(accept_language) == expected


def test_negotiate_falls_back_to_the_given_default() -> None:
    assert negotiate("fr", default="en") == "en"
    assert negotiate("", default="en") == "en"


# -- pages and the API -------------------------------------------------------------------

HEADLINE = "Open your shop from your phone"


async def test_pages_are_chinese_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in response.text
    assert CJK.search(zh(HEADLINE))
    assert str(escape(zh(HEADLINE))) in response.text
    assert HEADLINE not in response.text


async def test_accept_language_en_gives_english(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert HEADLINE in response.text
    assert str(escape(zh(HEADLINE))) not in response.text


async def test_error_page_follows_the_locale(client: httpx.AsyncClient) -> None:
    chinese = await client.get("/s/no-such-shop")
    assert chinese.status_code == 404
    assert str(escape(zh("This shop does not exist or is closed."))) in chinese.text

    english = await client.get("/s/no-such-shop", headers={"Accept-Language": "en"})
    assert "This shop does not exist or is closed." in english.text


async def choose_language(
    client: httpx.AsyncClient, lang: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """The footer's language form: it needs the CSRF cookie and token from a page first."""
    page = await client.get("/")
    return await client.post(
        "/language",
        data={"lang": lang, "next": "/onboarding", "csrf_token": csrf_from(page.text)},
        headers=headers,
    )


async def test_language_switch_sets_a_cookie_that_wins(client: httpx.AsyncClient) -> None:
    switched = await choose_language(client, "en")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/onboarding"
    assert client.cookies[LOCALE_COOKIE] == "en"

    page = await client.get("/")
    assert '<html lang="en">' in page.text
    assert HEADLINE in page.text
    # The choice beats the browser's Accept-Language.
    page = await client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert HEADLINE in page.text

    back = await choose_language(client, "zh_CN", headers={"Accept-Language": "en"})
    assert back.status_code == 303
    assert client.cookies[LOCALE_COOKIE] == "zh_CN"
    page = await client.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in page.text
    assert str(escape(zh(HEADLINE))) in page.text


async def test_unknown_language_is_ignored(client: httpx.AsyncClient) -> None:
    response = await choose_language(client, "fr")
    assert response.status_code == 303
    assert LOCALE_COOKIE not in client.cookies
    page = await client.get("/")
    assert '<html lang="zh-CN">' in page.text


async def test_api_errors_are_translated(client: httpx.AsyncClient) -> None:
    msgid = "That is not a valid mobile phone number."

    chinese = await client.post("/api/v1/auth/sms-codes", json={"phone": "123"})
    assert chinese.status_code == 422
    assert chinese.json()["error"]["code"] == "invalid_phone"
    assert chinese.json()["error"]["message"] == zh(msgid)
    assert CJK.search(zh(msgid))

    english = await client.post(
        "/api/v1/auth/sms-codes", json={"phone": "123"}, headers={"Accept-Language": "en"}
    )
    assert english.status_code == 422
    assert english.json()["error"]["message"] == msgid


async def test_login_sms_is_in_the_requests_language(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    sms = (
        "[Pocketshop] Your login code is %(code)s, valid for %(minutes)s minutes. "
        "Do not share it with anyone."
    )

    sent = await client.post("/api/v1/auth/sms-codes", json={"phone": "13800138000"})
    assert sent.status_code == 202
    code = last_code(app, "+8613800138000")
    assert app.state.sms.sent[0].text == zh(sms) % {"code": code, "minutes": 5}

    sent = await client.post(
        "/api/v1/auth/sms-codes", json={"phone": "13900139000"}, headers={"Accept-Language": "en"}
    )
    assert sent.status_code == 202
    code = last_code(app, "+8613900139000")
    assert app.state.sms.sent[0].text == sms % {"code": code, "minutes": 5}
