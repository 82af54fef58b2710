"""Helpers shared by tests: reading SMS codes, CSRF tokens, logging in both ways."""

import io
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from markupsafe import escape
from PIL import Image
from sqlalchemy import event, func, select
from stdnum import luhn
from stdnum.cn import ric

from pocketshop import clock, i18n
from pocketshop.accounts.models import AuthSession, SmsCode, User
from pocketshop.accounts.sms import ConsoleSmsSender
from pocketshop.config import Settings
from pocketshop.db import Base, Database
from pocketshop.outbox import OutboxMessage
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop


def last_code(app: FastAPI, phone_e164: str) -> str:
    """The newest login code the console SMS backend sent to a phone (notifications go
    there too)."""
    sender = app.state.sms
    assert isinstance(sender, ConsoleSmsSender)
    for message in sender.sent:
        found = re.search(r"\b(\d{6})\b", message.text)
        if message.phone == phone_e164 and found:
            return found.group(1)
    raise AssertionError(f"no login code sent to {phone_e164}")


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def api_login(client: httpx.AsyncClient, app: FastAPI, phone: str) -> dict[str, str]:
    """Log in through the JSON API; returns the Authorization header."""
    sent = await client.post("/api/v1/auth/sms-codes", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    code = last_code(app, sent.json()["phone"])
    token = await client.post("/api/v1/auth/tokens", json={"phone": phone, "code": code})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def page_login(
    client: httpx.AsyncClient, app: FastAPI, phone: str, next_url: str = "/console"
) -> httpx.Response:
    """Log in through the HTML forms (cookie + CSRF); returns the final response."""
    page = await client.get(f"/login?next={next_url}")
    sent = await client.post(
        "/login/code", data={"phone": phone, "next": next_url, "csrf_token": csrf_from(page.text)}
    )
    assert sent.status_code == 200, sent.text
    e164 = re.search(r'name="phone" value="(\+\d+)"', sent.text)
    assert e164
    code = last_code(app, e164.group(1))
    return await client.post(
        "/login",
        data={
            "phone": e164.group(1),
            "code": code,
            "next": next_url,
            "csrf_token": csrf_from(sent.text),
        },
    )


# --- bad-input and tenancy helpers -------------------------------------------------------------

ALERT_RE = re.compile(r'<p\b([^>]*\brole="alert"[^>]*)>(.*?)</p>', re.S)
TABLES: dict[str, type[Base]] = {
    "users": User,
    "sms_codes": SmsCode,
    "auth_sessions": AuthSession,
    "merchant_identities": MerchantIdentity,
    "bank_cards": BankCard,
    "shops": Shop,
    "outbox_messages": OutboxMessage,
}


async def count(db: Database, model: type[Base]) -> int:
    async with db.transaction(write=False) as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def counts(db: Database) -> dict[str, int]:
    """Rows in every table a login or an onboarding step writes to."""
    return {name: await count(db, model) for name, model in TABLES.items()}


def media_files(settings: Settings) -> list[Path]:
    root = settings.media_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def tr(message: str, **variables: object) -> str:
    """A message as the (default, zh_CN) pages show it: translated and HTML-escaped."""
    text = i18n.translations(i18n.DEFAULT_LOCALE).ugettext(message)
    return str(escape(text % variables if variables else text))


def page_alert(html: str) -> tuple[str, str]:
    """(code, message) of the error shown on a form page; fails when there is none."""
    found = ALERT_RE.search(html)
    assert found, "no error message on the page"
    code = re.search(r'\bdata-code="([^"]*)"', found.group(1))
    assert code, found.group(0)
    return code.group(1), found.group(2).strip()


def e164(national: str) -> str:
    return "+86" + national.replace(" ", "").replace("-", "")


def shanghai_today() -> date:
    return clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return date(day.year - years, 3, 1)


def id_number(born: date, area: str = "110105", sequence: str = "123") -> str:
    """A resident ID with a valid check digit for someone born on `born`."""
    first17 = f"{area}{born:%Y%m%d}{sequence}"
    # calc_check_digit wants the full 18 characters and ignores the last one.
    return first17 + ric.calc_check_digit(first17 + "0")


def id_number_aged(years: int, *, days_to_birthday: int = 0) -> str:
    """The ID of someone who turns `years` old `days_to_birthday` days from today."""
    return id_number(years_before(shanghai_today() + timedelta(days=days_to_birthday), years))


def with_wrong_check_digit(number: str) -> str:
    digits = "0123456789X"
    return number[:-1] + digits[(digits.index(number[-1]) + 1) % len(digits)]


def card_number(first: str = "622202123456789012") -> str:
    return first + luhn.calc_check_digit(first)


def with_bad_luhn(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 64), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "#3a86ff").save(out, format=fmt, **options)
    return out.getvalue()


@asynccontextmanager
async def other_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser / API client with its own cookies, on the same app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def csrf_for(client: httpx.AsyncClient, path: str = "/onboarding") -> str:
    """Open a page so the client has a CSRF cookie; returns the form token."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def api_identity(
    client: httpx.AsyncClient, auth: dict[str, str], real_name: str = "王小明", **extra: str
) -> httpx.Response:
    body = {"real_name": real_name, "id_number": extra.pop("id_number", id_number_aged(30))}
    return await client.post("/api/v1/onboarding/identity", json=body | extra, headers=auth)


async def api_bank_card(
    client: httpx.AsyncClient, auth: dict[str, str], holder_name: str = "王小明", **extra: str
) -> httpx.Response:
    body = {
        "holder_name": holder_name,
        "card_number": extra.pop("card_number", card_number()),
        "bank": extra.pop("bank", "ICBC"),
    }
    return await client.post("/api/v1/onboarding/bank-card", json=body | extra, headers=auth)


async def api_open_shop(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    name: str = "小明的店",
    *,
    description: str = "",
    logo: bytes | None = None,
    filename: str = "logo.png",
) -> httpx.Response:
    files = {"logo": (filename, logo, "image/png")} if logo is not None else None
    return await client.post(
        "/api/v1/onboarding/shop",
        data={"name": name, "description": description},
        files=files,
        headers=auth,
    )


async def api_merchant(
    client: httpx.AsyncClient,
    app: FastAPI,
    phone: str,
    *,
    real_name: str = "王小明",
    id_no: str | None = None,
    card: str | None = None,
    shop_name: str | None = None,
) -> dict[str, str]:
    """Log in through the API and finish identity and bank card (and the shop, when named)."""
    auth = await api_login(client, app, phone)
    done = await api_identity(client, auth, real_name, id_number=id_no or id_number_aged(30))
    assert done.status_code == 200, done.text
    done = await api_bank_card(client, auth, real_name, card_number=card or card_number())
    assert done.status_code == 200, done.text
    if shop_name is not None:
        done = await api_open_shop(client, auth, shop_name)
        assert done.status_code == 201, done.text
    return auth


def api_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """Assert the JSON error envelope: the status, the code and a message; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, object] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in response.text
    return error


@contextmanager
def statements_run(db: Database) -> Iterator[list[str]]:
    """The SQL statements the database is sent inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
