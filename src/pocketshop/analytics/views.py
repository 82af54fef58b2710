"""Recording storefront page views, cheaply: a shop's home, its product pages and its
payment-request pages, answered 200 to a GET (from the page cache or not), by a browser that
is not a known robot.

A request only notes what it saw in this process's memory (`PageViews.record`: a tuple and a
hash, a few microseconds, after the answer was sent); a background task writes what was
noted once a second (`flush`), in one transaction: the shop and page looked up by their
links, the visitor made a day-salted hash, and one row per visitor, page and day inserted
(a second view that day writes nothing). The buffer is bounded: past it, views are dropped
and counted, never queued without end.

The visitor is sha256 of a daily salt derived from the app's secret, the shop, and the
client's address and User-Agent, as Plausible counts: no cookie, nothing to consent to, and
the same phone is one visitor of a shop for a day. Where they came from is the source the
visitor is bound to in the shop (the guest's signed `ps_src` cookie, or a signed-in buyer's
binding), else direct.
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pocketshop import clock, db
from pocketshop.analytics.models import DIRECT, Page, PageView, StaleDay
from pocketshop.attribution.models import Binding
from pocketshop.catalog.models import Product
from pocketshop.config import Settings
from pocketshop.payments.models import PaymentRequest
from pocketshop.shops.models import Shop
from pocketshop.web import guest_source

log = logging.getLogger(__name__)

# /s/<shop>, /s/<shop>/p/<product>, /s/<shop>/pay/<request>: nothing else (posters, carts,
# QR codes and links that redirect are not pages seen).
PAGE_PATH = re.compile(r"^/s/([^/]+)(?:/(p|pay)/([^/]+))?$")
PAGES = {None: Page.home, "p": Page.product, "pay": Page.request}
CAPACITY = 50_000  # views waiting to be written, per process
FLUSH_SECONDS = 1.0
CHUNK = 2_000  # views per transaction
_SOURCES_COOKIE = guest_source.COOKIE.encode() + b"="

# Robots, in lower case. A browser's User-Agent starts with "Mozilla/" (WeChat's in-app
# browser, "MicroMessenger", too); command-line clients and libraries (curl, wget,
# python-requests, Go, Java, load generators) do not. Of those that do, these mark crawlers
# and link previewers: search engines' spiders (Baidu, Google, Bing, Sogou, 360, Shenma,
# Bytedance), WeChat's own crawler, chat apps fetching a card, and headless browsers.
ROBOT_MARKERS = (
    "bot/",
    "bot;",
    "bot)",
    "bot.htm",
    "spider",
    "crawl",
    "slurp",
    "mpcrawler",
    "+http",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "pagespeed",
    "facebookexternalhit",
    "mediapartners",
    "adsbot",
    "feedfetcher",
    "preview",
)


@lru_cache(maxsize=4096)
def is_robot(user_agent: str) -> bool:
    """A User-Agent that is not a person's browser (none at all, too)."""
    if not user_agent.startswith("Mozilla/"):
        return True
    lowered = user_agent.lower()
    return any(marker in lowered for marker in ROBOT_MARKERS)


@dataclass(slots=True)  # not frozen: a frozen dataclass costs twice as much to make
class Seen:
    """One view as the request noted it, before any lookup."""

    at: datetime
    slug: str
    page: Page
    ref: str  # the product's or payment request's public id; empty for the home
    browser: bytes  # sha256 of the address and the User-Agent, hashed again at flush
    user_id: int | None  # a signed-in buyer
    guest_sources: dict[int, guest_source.Entry] | None  # the guest's ps_src cookie


class PageViews:
    """This process's views not yet written. `record` is called by the middleware; `flush`
    by the background task (and by tests, and at shutdown)."""

    def __init__(self, settings: Settings, *, capacity: int = CAPACITY) -> None:
        self.settings = settings
        self.capacity = capacity
        self.pending: list[Seen] = []
        self.dropped = 0  # views not kept: the buffer was full
        self._flushing = asyncio.Lock()
        self._salts: dict[date, bytes] = {}

    # --- in the request ----------------------------------------------------------------------

    def record(self, scope: Scope, slug: str, page: Page, ref: str) -> None:
        if len(self.pending) >= self.capacity:
            self.dropped += 1
            return
        user_agent = b""
        cookie = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value
            elif name == b"cookie":
                cookie = value
            elif name in (b"purpose", b"sec-purpose") and b"prefetch" in value:
                return  # fetched ahead by the browser: maybe never seen
        agent = user_agent.decode("latin-1")
        if is_robot(agent):
            return
        client = scope.get("client")
        address = client[0] if client else ""
        user = scope.get("state", {}).get("user")
        sources = None
        if user is None and _SOURCES_COOKIE in cookie:
            sources = guest_source.read(Request(scope)) or None
        self.pending.append(
            Seen(
                at=clock.now(),
                slug=slug,
                page=page,
                ref=ref,
                browser=hashlib.sha256(f"{address}\n{agent}".encode()).digest(),
                user_id=user.id if user is not None else None,
                guest_sources=sources,
            )
        )

    # --- in the background -------------------------------------------------------------------

    async def flush(self, database: db.Database) -> int:
        """Write what is waiting: how many (visitor, page, day) rows that made, counting
        those already there."""
        written = 0
        async with self._flushing:
            while self.pending:
                batch, self.pending = self.pending[:CHUNK], self.pending[CHUNK:]
                try:
                    async with database.transaction() as session:
                        written += await _write(session, self, batch)
                except Exception as exc:
                    # The database away: kept for the next round if there is room. Any other
                    # failure would fail again: those views are given up (and counted).
                    room = max(self.capacity - len(self.pending), 0) if db.unavailable(exc) else 0
                    self.pending[:0] = batch[:room]
                    self.dropped += len(batch) - min(room, len(batch))
                    raise
        return written

    async def run(self, database: db.Database, interval: float = FLUSH_SECONDS) -> None:
        """The background task: flush every `interval` until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.flush(database)
                except Exception:
                    log.exception("page views: flush failed (%s waiting)", len(self.pending))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush(database))

    def salt(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            if len(self._salts) > 8:
                self._salts.clear()
            key = self.settings.secrets.secret_key.encode()
            message = b"pocketshop.visitor:" + day.isoformat().encode()
            salt = self._salts[day] = hmac.new(key, message, "sha256").digest()
        return salt

    def source_of(self, seen: Seen, shop_id: int, bound: dict[tuple[int, int], str]) -> str:
        if seen.user_id is not None:
            return bound.get((shop_id, seen.user_id), DIRECT)
        entry = (seen.guest_sources or {}).get(shop_id)
        lasting = self.settings.referral_days * 24 * 3600
        if entry is not None and entry[2] + lasting > seen.at.timestamp():
            return entry[0]
        return DIRECT


def visitor(salt: bytes, shop_id: int, browser: bytes) -> bytes:
    return hashlib.sha256(salt + shop_id.to_bytes(8, "big") + browser).digest()[:16]


async def _ids(
    session: AsyncSession, model: Any, refs: Iterable[str]
) -> dict[str, tuple[int, int]]:
    """Public ids of products or payment requests -> (id, shop id)."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    rows = await session.execute(
        select(model.public_id, model.id, model.shop_id).where(model.public_id.in_(wanted))
    )
    return {public_id: (row_id, shop_id) for public_id, row_id, shop_id in rows}


async def _write(session: AsyncSession, views: PageViews, batch: Sequence[Seen]) -> int:
    shops = {
        slug: (shop_id, ZoneInfo(zone))
        for shop_id, slug, zone in await session.execute(
            select(Shop.id, Shop.slug, Shop.timezone).where(
                Shop.slug.in_(sorted({seen.slug for seen in batch}))
            )
        )
    }
    targets = {
        Page.product: await _ids(
            session, Product, (seen.ref for seen in batch if seen.page is Page.product)
        ),
        Page.request: await _ids(
            session, PaymentRequest, (seen.ref for seen in batch if seen.page is Page.request)
        ),
    }
    users = sorted({seen.user_id for seen in batch if seen.user_id is not None})
    bound: dict[tuple[int, int], str] = {}
    if users:
        rows = await session.execute(
            select(Binding.shop_id, Binding.buyer_id, Binding.kind).where(
                Binding.buyer_id.in_(users), Binding.expires_at > clock.now()
            )
        )
        bound = {(shop_id, buyer_id): kind for shop_id, buyer_id, kind in rows}
    rows_by_key: dict[tuple[int, date, str, int, bytes], dict[str, Any]] = {}
    for seen in batch:
        found = shops.get(seen.slug)
        if found is None:
            continue  # the shop's link changed since
        shop_id, zone = found
        target_id = 0
        if seen.page is not Page.home:
            target = targets[seen.page].get(seen.ref)
            if target is None or target[1] != shop_id:
                continue
            target_id = target[0]
        day = seen.at.astimezone(zone).date()
        who = visitor(views.salt(day), shop_id, seen.browser)
        key = (shop_id, day, seen.page.value, target_id, who)
        if key not in rows_by_key:
            rows_by_key[key] = {
                "shop_id": shop_id,
                "day": day,
                "page": seen.page.value,
                "target_id": target_id,
                "visitor": who,
                "source": views.source_of(seen, shop_id, bound),
            }
    if not rows_by_key:
        return 0
    # In key order, as every process writes them: two flushes never wait on each other's rows
    # in opposite orders.
    ordered = [rows_by_key[key] for key in sorted(rows_by_key)]
    await session.execute(db.insert_ignoring(session, db.table_of(PageView)), ordered)
    days = sorted({(row["shop_id"], row["day"]) for row in ordered})
    await session.execute(
        db.insert_or_add(session, db.table_of(StaleDay), "changes"),
        [{"shop_id": shop_id, "day": day, "changes": 1} for shop_id, day in days],
    )
    return len(ordered)


class RecordPageViews:
    """ASGI middleware noting the storefront pages answered 200 to a GET. Installed outside
    the page cache's, so a page the cache answers counts as one rendered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith("/s/"):
            await self.app(scope, receive, send)
            return
        found = PAGE_PATH.match(path)
        if found is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, sending)
        if status == 200:
            slug, kind, ref = found.groups()
            recorder: PageViews = scope["app"].state.page_views
            recorder.record(scope, slug, PAGES[kind], ref or "")
