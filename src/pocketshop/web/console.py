"""The merchant console's shared layout and form helpers: what every console page's nav shows,
POST-redirect-GET with a notice, and whole numbers as merchants type them. Each domain's
console pages use these; none imports another domain's pages."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.aftersales import display as aftersales_display
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput
from pocketshop.i18n import _
from pocketshop.money import parse_yuan
from pocketshop.orders import queries as order_queries
from pocketshop.shops.models import Shop
from pocketshop.web import flash


async def nav_context(
    session: AsyncSession, shop: Shop, section: str, *, to_ship: int | None = None
) -> dict[str, Any]:
    """What every console page's nav shows: the section, how many orders await shipping and
    how many after-sales cases await the shop's answer."""
    zone = ZoneInfo(shop.timezone)

    def when(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return {
        "shop": shop,
        "section": section,
        "to_ship": await order_queries.awaiting_shipment_count(session, shop)
        if to_ship is None
        else to_ship,
        "aftersales_waiting": await aftersales_display.waiting_badge(session, shop),
        "when": when,
    }


def redirect_done(url: str, done: str) -> RedirectResponse:
    """POST-redirect-GET, with the notice the next page shows (and its #section kept)."""
    path, _hash, fragment = url.partition("#")
    path = flash.without_notice(path)
    separator = "&" if "?" in path else "?"
    anchor = f"#{fragment}" if fragment else ""
    return RedirectResponse(f"{path}{separator}done={done}{anchor}", status_code=303)


async def change_or_refuse(
    request: Request,
    session: AsyncSession,
    change: Callable[[], Awaitable[object]],
    *,
    back: str,
    done: str,
    typed: dict[str, str],
) -> Response:
    """Make one change from a form; a refused one goes back to its form (`back`, its #section
    kept) with what was typed, shown there once (POST-redirect-GET, flash), and nothing of
    it written: the change runs in a savepoint."""
    try:
        async with attempt(session):
            await change()
    except AppError as error:
        return flash.redirect_refused(request, back, error, typed)
    return redirect_done(back, done)


def parse_count(text: str, *, message: str, field_name: str) -> int:
    value = text.strip().replace(",", "")
    signless = value[1:] if value[:1] in "+-" else value
    if not signless.isascii() or not signless.isdigit() or len(signless) > 9:
        raise InvalidInput(message, code="invalid_number", field=field_name)
    return int(value)


def parse_amount(text: str) -> int:
    """A positive amount typed in yuan ("12.50"), in fen."""
    fen = parse_yuan(text)
    if fen is None or fen <= 0:
        raise InvalidInput(
            _("Enter an amount in yuan, like 12.50."), code="invalid_amount", field="amount"
        )
    return fen
