"""What recording a page view costs the server, measured in-process on the seeded database:
the middleware's part in the request (the path matched, the view noted in memory) and the
background flush's part (the lookups and the batched insert), in CPU time per view, every
view another visitor of a real product page (the dearest case: a view seen before is a
row dropped in memory before the insert).

The wrk scenario `product_page_visitors` measures the same from outside: the hot product
page, each request another phone; its CPU per request against `product_page_hot`'s is the
recording's share.
"""

import time
from dataclasses import dataclass
from typing import Any

from pocketshop.analytics.views import PAGE_PATH, PAGES, PageViews
from pocketshop.config import Settings
from pocketshop.db import Database

AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI"
)


@dataclass(frozen=True)
class Cost:
    views: int
    written: int  # rows the flush made
    request_us: float  # CPU per view in the request (µs)
    flush_us: float  # CPU per view in the background flush (µs)
    flush_wall_us: float  # the flush's wall time per view, the database's share included

    @property
    def total_ms(self) -> float:
        return (self.request_us + self.flush_us) / 1000


def _scope(path: str, number: int) -> dict[str, Any]:
    agent = f"{AGENT} Visitor/{number}".encode()
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "client": ("10.0.0.1", 50000 + number % 10000),
        "headers": [(b"user-agent", agent), (b"accept-language", b"zh-CN")],
        "state": {},
    }


async def measure(settings: Settings, paths: list[str], count: int = 20_000) -> Cost:
    views = PageViews(settings, capacity=count)
    scopes = [_scope(paths[n % len(paths)], n) for n in range(count)]
    started = time.process_time()
    for scope in scopes:
        # What RecordPageViews does once the page was answered 200.
        found = PAGE_PATH.match(scope["path"])
        assert found is not None
        slug, kind, ref = found.groups()
        views.record(scope, slug, PAGES[kind], ref or "")
    request = time.process_time() - started
    database = Database(settings.database_url)
    try:
        started, wall = time.process_time(), time.monotonic()
        written = await views.flush(database)
        flush, wall = time.process_time() - started, time.monotonic() - wall
    finally:
        await database.dispose()
    return Cost(
        views=count,
        written=written,
        request_us=request * 1e6 / count,
        flush_us=flush * 1e6 / count,
        flush_wall_us=wall * 1e6 / count,
    )
