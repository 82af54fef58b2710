"""Counting lookups that found nothing, and refusing an asker who made too many.

Only misses count: a buyer opening their own order again and again is never held up, and
a hit tells a guesser nothing they may not know. What a guesser learns comes from misses,
so once the misses of the window reach the limit, every lookup waits, hits included
(otherwise a hit among the refusals would still give the number away)."""

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, db
from pocketshop.config import Settings
from pocketshop.errors import TooManyRequests
from pocketshop.guessing.models import LookupMiss
from pocketshop.i18n import _

USER = "u:"
IP = "ip:"

# Two fixed parameters (an anonymous asker's address twice), not an expanding IN that is
# rendered anew on every lookup.
_MISSES = select(LookupMiss.asker, LookupMiss.misses).where(
    LookupMiss.window_start == bindparam("window_start"),
    LookupMiss.asker.in_([bindparam("asker"), bindparam("other_asker")]),
)
_TABLE = db.table_of(LookupMiss)
_FORGET = delete(LookupMiss).where(LookupMiss.window_start == bindparam("window_start"))


def askers(user_id: int | None, ip: str) -> tuple[str, ...]:
    """Whom a lookup is counted against: the logged-in user (any of their logins) and the
    address it came from (an IPv6 /64, see routing.client_ip)."""
    by_ip = (IP + ip)[:64]
    return (by_ip,) if user_id is None else (f"{USER}{user_id}", by_ip)


def window_of(settings: Settings, now: datetime) -> int:
    length = settings.lookup_window_seconds
    return int(now.timestamp()) // length * length


def _tag(asker: str) -> str:
    return f"misses:{asker}"


async def check(
    session: AsyncSession, settings: Settings, who: Sequence[str], now: datetime
) -> None:
    """Refuse (429, Retry-After until the window ends) when one of `who` has used up its
    misses of the current window. The counts are kept in the row cache until a miss of one
    of `who` is counted (dropped in every process at that commit): a buyer's checkout looks
    up their order several times and has no misses to read."""
    start = window_of(settings, now)
    first, *others = who  # one or two: see `askers`

    async def read() -> tuple[tuple[tuple[str, int], ...], list[str]]:
        found = await session.execute(
            _MISSES,
            {"window_start": start, "asker": first, "other_asker": others[0] if others else first},
        )
        return tuple((asker, misses) for asker, misses in found), [_tag(a) for a in who]

    counted = await cache.read_through(session, ("misses", start, *who), read) or ()
    for asker, misses in counted:
        limit = (
            settings.lookup_misses_per_user
            if asker.startswith(USER)
            else settings.lookup_misses_per_ip
        )
        if misses >= limit:
            wait = max(start + settings.lookup_window_seconds - int(now.timestamp()), 1)
            raise TooManyRequests(
                _(
                    "Too many numbers that lead nowhere were tried. Please try again in "
                    "%(minutes)s min.",
                    minutes=math.ceil(wait / 60),
                ),
                retry_after=wait,
                code="too_many_misses",
            )


async def count_miss(
    session: AsyncSession, settings: Settings, who: Sequence[str], now: datetime
) -> None:
    """One more miss for each of `who`: one upsert, no read."""
    cache.invalidate(session, *(_tag(asker) for asker in who))
    start = window_of(settings, now)
    await session.execute(
        db.insert_or_add(session, _TABLE, "misses"),
        [{"window_start": start, "asker": asker, "misses": 1} for asker in who],
    )


async def ended_windows(
    session: AsyncSession, settings: Settings, now: datetime, limit: int
) -> list[int]:
    """Windows before the current one: nothing reads them any more."""
    found = await session.scalars(
        select(LookupMiss.window_start)
        .where(LookupMiss.window_start < window_of(settings, now))
        .group_by(LookupMiss.window_start)
        .order_by(LookupMiss.window_start)
        .limit(limit)
    )
    return list(found)


async def forget(session: AsyncSession, window_start: int) -> bool:
    """Drop one ended window's counts; whether there were any."""
    gone = await session.execute(_FORGET, {"window_start": window_start})
    return bool(gone.rowcount)  # type: ignore[attr-defined]
