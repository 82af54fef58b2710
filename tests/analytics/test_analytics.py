"""Analytics: storefront page views counted once a day per visitor and page (cached pages too,
robots not), with the source the visitor is bound to; daily rollups per shop, source and
product, recomputed by the job from views and paid orders; the dashboard, the API and the
exports read only them; per-source figures equal the orders'; another shop sees nothing of
them, a buyer without a shop is refused."""

import csv
import io
import re
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import func, select

from pocketshop import clock
from pocketshop.analytics import chart, rollup
from pocketshop.analytics import jobs as analytics_jobs
from pocketshop.analytics import views as page_views
from pocketshop.analytics.labels import percent
from pocketshop.analytics.models import PageView, ShopDay, StaleDay
from pocketshop.analytics.service import Day, Figures
from pocketshop.analytics.views import PageViews, is_robot
from pocketshop.attribution import service as attribution
from pocketshop.db import Database
from pocketshop.orders.models import Order
from tests.attribution.test_attribution import follow, make_staff, make_store, path_of
from tests.commerce import (
    Buyer,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    ordered,
    pay,
    web_login,
)
from tests.support import api_error, other_client, shanghai_today, statements_run

# A phone in WeChat's browser; another in Safari; the same phone's address for both.
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; V2309A Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin"
)
ROBOTS = (
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_2_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/13.0.3 Mobile/15E148 Safari/604.1 mpcrawler",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "python-httpx/0.27.0",
    "Go-http-client/1.1",
    "",
)


def test_robots_are_told_from_phones() -> None:
    for agent in (WECHAT, SAFARI, ANDROID):
        assert not is_robot(agent), agent
    for agent in ROBOTS:
        assert is_robot(agent), agent


def recorder(app: FastAPI) -> PageViews:
    views: PageViews = app.state.page_views
    return views


async def flush(app: FastAPI) -> None:
    await recorder(app).flush(app.state.db)


async def roll_up(app: FastAPI) -> int:
    """What the job does each round (views flushed first, as the server does each second)."""
    await flush(app)
    return await rollup.refresh(app.state.db)


async def view(
    app: FastAPI, path: str, agent: str = WECHAT, *, buyer: Buyer | None = None
) -> httpx.Response:
    async with other_client(app) as phone:
        if buyer is not None:
            await web_login(app, phone, buyer.user)
        return await phone.get(path, headers={"User-Agent": agent})


async def rows(app: FastAPI) -> list[PageView]:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        found = await session.scalars(
            select(PageView).order_by(PageView.page, PageView.target_id, PageView.source)
        )
        return list(found)


async def analytics(client: httpx.AsyncClient, merchant: Merchant, query: str = "") -> Any:
    answer = await client.get(f"/api/v1/me/shop/analytics{query}", headers=merchant.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_visitor_counts_once_a_day_per_page_cached_or_not_and_robots_never(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop)
    asked = await client.post(
        "/api/v1/me/shop/payment-requests",
        json={"amount": 500, "note": "定金"},
        headers=merchant.auth,
    )
    assert asked.status_code == 201, asked.text
    slug = merchant.shop.slug
    home, page, request = (
        f"/s/{slug}",
        f"/s/{slug}/p/{product.id}",
        f"/s/{slug}/pay/{asked.json()['id']}",
    )

    for _twice in range(2):  # the second answer comes from the page cache
        for path in (home, page, request):
            assert (await view(app, path)).status_code == 200
    assert (await view(app, f"{home}?page=2")).status_code == 200  # still the home
    with statements_run(app.state.db) as statements:
        assert (await view(app, home, SAFARI)).status_code == 200  # another phone
    assert statements == []  # answered by the page cache: no route ran, and it counts
    for robot in ROBOTS:
        await view(app, page, robot)
    assert (await view(app, f"/s/{slug}/p/nosuchproduct")).status_code == 404
    assert (await view(app, f"/s/{slug}/cart")).status_code == 200  # not a page counted
    async with other_client(app) as phone:
        assert (await phone.head(home, headers={"User-Agent": SAFARI})).status_code == 200
        prefetched = await phone.get(
            page, headers={"User-Agent": SAFARI, "Sec-Purpose": "prefetch"}
        )
        assert prefetched.status_code == 200
    await flush(app)

    seen = [(row.page, row.target_id == 0, row.source) for row in await rows(app)]
    assert sorted(seen) == [
        ("home", True, "direct"),
        ("home", True, "direct"),
        ("product", False, "direct"),
        ("request", False, "direct"),
    ]
    assert await roll_up(app) == 1
    today = (await analytics(client, merchant))["today"]
    assert (today["views"], today["visitors"]) == (4, 2)

    # The next day, in the shop's time zone, the same phone is a visitor again.
    clock.advance(timedelta(days=1))
    await view(app, home)
    await roll_up(app)
    found = await analytics(client, merchant)
    assert (found["today"]["views"], found["today"]["visitors"]) == (1, 1)
    assert (found["yesterday"]["views"], found["yesterday"]["visitors"]) == (4, 2)
    assert recorder(app).dropped == 0


async def test_a_view_counts_for_the_source_the_visitor_is_bound_to(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, bound_buyer = await make_merchant(app), await make_buyer(app)
    store = await make_store(client, merchant)
    campaign = await client.post(
        "/api/v1/me/shop/campaigns", json={"label": "市集海报"}, headers=merchant.auth
    )
    home = f"/s/{merchant.shop.slug}"
    # A guest follows the campaign's link: its cookie says so on the page they land on.
    async with other_client(app) as guest:
        landed = await guest.get(path_of(campaign.json()["link"]), headers={"User-Agent": ANDROID})
        assert landed.status_code == 303
        assert (await guest.get(home, headers={"User-Agent": ANDROID})).status_code == 200
    # A signed-in buyer bound to the store, seen by their binding.
    await follow(app, store["link"], bound_buyer)
    assert (await view(app, home, SAFARI, buyer=bound_buyer)).status_code == 200
    await view(app, home, WECHAT)  # came direct
    await roll_up(app)

    by_source = {row["source"]: row for row in (await analytics(client, merchant))["sources"]}
    assert list(by_source) == ["direct", "share", "store", "staff", "campaign"]
    assert {source: row["visitors"] for source, row in by_source.items()} == {
        "direct": 1,
        "share": 0,
        "store": 1,
        "staff": 0,
        "campaign": 1,
    }


async def paid(
    app: FastAPI, client: httpx.AsyncClient, merchant: Merchant, buyer: Buyer, sku: Any, qty: int
) -> str:
    number = await ordered(client, buyer, merchant.shop, [(sku, qty)])
    await pay(app, number)
    return number


async def test_per_source_figures_equal_the_orders(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Orders through a store, a staff member, a campaign link, a customer's share and none,
    paid (and one left unpaid): the dashboard's per-source figures are the orders'."""
    merchant = await make_merchant(app)
    cheap = await make_product(app, merchant.shop, "钥匙扣", price=2900, stock=50)
    dear = await make_product(app, merchant.shop, "钱包", price=16800, stock=50)
    store = await make_store(client, merchant)
    staff = await make_staff(client, merchant, store)
    campaign = (
        await client.post(
            "/api/v1/me/shop/campaigns", json={"label": "老客户群"}, headers=merchant.auth
        )
    ).json()
    sharer = await make_buyer(app)
    share_link = attribution.share_path(app.state.settings, merchant.shop, sharer.user.id, None)
    links = {"store": store["link"], "staff": staff["link"], "campaign": campaign["link"]}
    links["share"] = share_link
    for source, link in links.items():
        for count in range(2 if source != "share" else 1):
            buyer = await make_buyer(app)
            await follow(app, link, buyer)
            await paid(app, client, merchant, buyer, cheap.skus[0], 1 + count)
            if source == "staff":
                await paid(app, client, merchant, buyer, dear.skus[0], 1)  # a second order
    direct = await make_buyer(app)
    await paid(app, client, merchant, direct, dear.skus[0], 2)
    await ordered(client, direct, merchant.shop, [(dear.skus[0], 1)])  # never paid
    await roll_up(app)

    db: Database = app.state.db
    kind_of = func.coalesce(Order.referral_kind, "direct")
    async with db.transaction(write=False) as session:
        truth = {
            kind: (int(orders), int(buyers), int(total))
            for kind, orders, buyers, total in await session.execute(
                select(
                    kind_of,
                    func.count(),
                    func.count(func.distinct(Order.buyer_id)),
                    func.sum(Order.total),
                )
                .where(Order.shop_id == merchant.shop.id, Order.paid_at.is_not(None))
                .group_by(kind_of)
            )
        }
    assert set(truth) == {"direct", "share", "store", "staff", "campaign"}
    found = await analytics(client, merchant)
    shown = {
        row["source"]: (row["orders"], row["buyers"], row["turnover"]) for row in found["sources"]
    }
    assert shown == truth
    assert found["total"]["orders"] == sum(orders for orders, _b, _t in truth.values()) == 10
    assert found["total"]["turnover"] == sum(total for _o, _b, total in truth.values())
    assert found["today"]["turnover"] == found["total"]["turnover"]
    # The products: units and line totals of the paid orders only.
    products = {row["title"]: row for row in found["top_products"]}
    assert list(products) == ["钱包", "钥匙扣"]  # most turnover first
    assert products["钱包"]["units"] == 4  # two staff orders of one, the direct order of two
    assert products["钥匙扣"]["units"] == 1 + 2 + 1 + 2 + 1 + 2 + 1
    assert products["钥匙扣"]["turnover"] == 2900 * products["钥匙扣"]["units"]


async def test_the_day_is_the_shops_and_a_rollup_is_the_same_however_often_it_runs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    product = await make_product(app, merchant.shop, price=10_000)
    now = clock.now()
    evening = now.replace(hour=15, minute=50, second=0, microsecond=0) + timedelta(days=1)
    clock.advance(evening - now)  # 23:50 in Shanghai
    await view(app, f"/s/{merchant.shop.slug}")
    late = await paid(app, client, merchant, buyer, product.skus[0], 1)
    await roll_up(app)
    clock.advance(timedelta(minutes=20))  # 00:10 in Shanghai: a new day there, not in UTC
    await paid(app, client, merchant, buyer, product.skus[0], 2)
    await roll_up(app)

    found = await analytics(client, merchant)
    late_total = (await client.get(f"/api/v1/me/shop/orders/{late}", headers=merchant.auth)).json()
    assert found["yesterday"]["orders"] == 1
    assert found["yesterday"]["turnover"] == late_total["total"]
    assert (found["yesterday"]["views"], found["today"]["views"]) == (1, 0)
    assert found["today"]["orders"] == 1
    assert found["days"][-1]["day"] == shanghai_today().isoformat()

    db: Database = app.state.db

    async def days() -> list[tuple[date, int, int, int]]:
        async with db.transaction(write=False) as session:
            found = await session.execute(
                select(ShopDay.day, ShopDay.views, ShopDay.orders, ShopDay.turnover)
                .where(ShopDay.shop_id == merchant.shop.id)
                .order_by(ShopDay.day)
            )
            return [tuple(row) for row in found]  # type: ignore[misc]

    before = await days()
    await rollup.refresh(db)  # orders paid within a minute are looked at again: the same
    assert await days() == before
    clock.advance(rollup.OVERLAP * 2)
    await rollup.refresh(db)  # the last round to look at them
    assert await rollup.refresh(db) == 0  # nothing new since
    today = shanghai_today()
    assert await rollup.backfill(db, today - timedelta(days=3), today) == 4  # 4 days, 1 shop
    after = [row for row in await days() if row[1] or row[2]]
    assert after == before


async def test_one_round_rolls_up_many_shops_each_its_own_figures(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shops recomputed together, two per statement here: nothing of one counts for another."""
    monkeypatch.setattr(rollup, "SHOPS_PER_STATEMENT", 2)
    merchants = [await make_merchant(app, f"第{n}家店") for n in range(3)]
    for n, merchant in enumerate(merchants):
        product = await make_product(app, merchant.shop, price=1000 * (n + 1))
        for agent in (WECHAT, SAFARI, ANDROID)[: n + 1]:
            await view(app, f"/s/{merchant.shop.slug}/p/{product.id}", agent)
        await paid(app, client, merchant, await make_buyer(app), product.skus[0], n + 1)
    assert await roll_up(app) == 3
    for n, merchant in enumerate(merchants):
        found = await analytics(client, merchant)
        assert (found["today"]["visitors"], found["today"]["orders"]) == (n + 1, 1)
        [product] = found["top_products"]
        assert (product["views"], product["units"]) == (n + 1, n + 1)
        assert product["turnover"] == 1000 * (n + 1) ** 2


async def test_views_flushed_while_a_round_runs_are_not_lost(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A day's mark is taken away only if no view was flushed after the round read it."""
    merchant = await make_merchant(app)
    home = f"/s/{merchant.shop.slug}"
    await view(app, home, WECHAT)
    await flush(app)
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        [(day, changes)] = list(await session.execute(select(StaleDay.day, StaleDay.changes)))
    await view(app, home, SAFARI)
    await flush(app)  # the mark now counts two changes
    async with db.transaction() as session:
        await rollup.recompute(session, [merchant.shop.id], ZoneInfo("Asia/Shanghai"), day)
    assert changes == 1
    assert await rollup.refresh(db) == 1  # still marked: recomputed with both views
    assert (await analytics(client, merchant))["today"]["visitors"] == 2
    async with db.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(StaleDay)) == 0


async def test_a_full_buffer_drops_views_and_counts_them(app: FastAPI) -> None:
    merchant = await make_merchant(app)
    views = recorder(app)
    views.capacity = 2
    for agent in (WECHAT, SAFARI, ANDROID):
        await view(app, f"/s/{merchant.shop.slug}", agent)
    assert (len(views.pending), views.dropped) == (2, 1)
    assert await views.flush(app.state.db) == 2
    assert views.pending == []


async def test_views_wait_while_the_database_is_away_and_a_bad_batch_is_given_up(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = await make_merchant(app)
    await view(app, f"/s/{merchant.shop.slug}")
    views = recorder(app)

    async def away(*_args: object) -> int:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(page_views, "_write", away)
    with pytest.raises(ConnectionError):
        await views.flush(app.state.db)
    assert (len(views.pending), views.dropped) == (1, 0)  # kept for the next round

    async def broken(*_args: object) -> int:
        raise ValueError("a row no database takes")

    monkeypatch.setattr(page_views, "_write", broken)
    with pytest.raises(ValueError, match="no database"):
        await views.flush(app.state.db)
    assert (len(views.pending), views.dropped) == (0, 1)  # given up, counted


async def test_another_shop_sees_none_of_it_and_a_buyer_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, neighbour, buyer = (
        await make_merchant(app),
        await make_merchant(app, "隔壁的店"),
        await make_buyer(app),
    )
    product = await make_product(app, merchant.shop)
    await view(app, f"/s/{merchant.shop.slug}/p/{product.id}")
    await paid(app, client, merchant, buyer, product.skus[0], 1)
    await roll_up(app)
    assert (await analytics(client, merchant))["total"]["orders"] == 1

    theirs = await analytics(client, neighbour)
    assert theirs["total"] == {
        "views": 0,
        "visitors": 0,
        "orders": 0,
        "buyers": 0,
        "turnover": 0,
        "conversion_bp": None,
        "average_order": None,
    }
    assert theirs["top_products"] == []
    assert all(row["orders"] == row["views"] == 0 for row in theirs["sources"])
    for path in ("/api/v1/me/shop/analytics", "/api/v1/me/shop/analytics.csv"):
        api_error(await client.get(path, headers=buyer.auth), 403, "not_a_merchant")
        api_error(await client.get(path), 401, "not_authenticated")
    async with other_client(app) as browser:
        await web_login(app, browser, neighbour.user)
        home = await browser.get("/console")
        exported = await browser.get("/console/analytics.csv")
        await web_login(app, browser, buyer.user)
        refused = await browser.get("/console/analytics.csv")
    assert product.product.title not in home.text
    assert (refused.status_code, refused.headers["location"]) == (303, "/onboarding")
    lines = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert all(line[3] == "0" for line in lines[1:])  # paid orders, each day


async def test_the_console_home_shows_the_dashboard_and_exports_its_days(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer = await make_merchant(app), await make_buyer(app)
    product = await make_product(app, merchant.shop, "手缝钱包", price=16_800)
    await view(app, f"/s/{merchant.shop.slug}/p/{product.id}")
    number = await paid(app, client, merchant, buyer, product.skus[0], 1)
    order = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
    await roll_up(app)
    async with other_client(app) as browser:
        await web_login(app, browser, merchant.user)
        home = await browser.get("/console")
        orders_chart = await browser.get("/console?chart=orders")
        unknown = await browser.get("/console?chart=nonsense")
        exported = await browser.get("/console/analytics.csv")
        workbook = await browser.get("/console/analytics.xlsx?days=7")
    assert home.status_code == orders_chart.status_code == unknown.status_code == 200
    page = home.text
    assert page.count('<g class="day"') == 30
    assert "手缝钱包" in page  # the best seller
    assert re.search(r'class="now">¥\d', page)
    tip = re.findall(r'data-tip="([^"]*)"', page)[-1]
    assert "¥" in tip  # today's bar: its turnover and order
    assert "1" in tip
    assert 'href="/console?chart=orders#chart" aria-current="page"' in orders_chart.text
    assert 'href="/console?chart=turnover#chart" aria-current="page"' in unknown.text

    assert exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(lines) == 1 + 30
    assert lines[-1][0] == shanghai_today().isoformat()
    assert lines[-1][1:5] == ["1", "1", "1", "1"]  # views, visitors, paid orders, buyers
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert sheet.max_row == 1 + 7
    turnover = sheet.cell(row=8, column=6).value  # in yuan
    assert isinstance(turnover, int | float)
    assert turnover * 100 == order.json()["total"]


@pytest.mark.parametrize("days", [1, 90])
async def test_the_api_answers_any_number_of_days_up_to_ninety(
    app: FastAPI, client: httpx.AsyncClient, days: int
) -> None:
    merchant = await make_merchant(app)
    found = await analytics(client, merchant, f"?days={days}")
    assert len(found["days"]) == days
    assert found["last_day"] == shanghai_today().isoformat()
    too_many = await client.get("/api/v1/me/shop/analytics?days=91", headers=merchant.auth)
    assert too_many.status_code == 422


def test_the_chart_scales_to_a_round_top_and_keeps_its_labels_inside() -> None:
    start = date(2026, 11, 6)
    days = [
        Day(start + timedelta(days=n), Figures(orders=n % 4, turnover=n * 1_000, visitors=9))
        for n in range(30)
    ]
    drawn = chart.draw(days, chart.Metric.turnover)
    assert len(drawn.bars) == 30
    assert drawn.bars[-1].today
    assert not drawn.bars[0].height  # nothing that day: no bar, still a column to tap
    assert drawn.bars[-1].y == pytest.approx(chart.BASELINE - chart.PLOT_HEIGHT * 29 / 50, abs=0.01)
    assert [line.label for line in drawn.gridlines] == ["¥0", "¥250", "¥500"]  # zh_CN
    assert [label.anchor for label in drawn.labels] == ["start", "middle", "end"]
    assert drawn.labels[-1].x == chart.WIDTH
    assert "11-07" in drawn.bars[1].tip
    assert "¥10.00" in drawn.bars[1].tip
    assert chart.draw(days[:1], chart.Metric.orders).empty
    assert [percent(bp) for bp in (None, 0, 5, 320, 12_345)] == [
        "–",
        "0.0%",
        "0.1%",
        "3.2%",
        "123.5%",
    ]


async def test_the_job_runs_with_the_timed_work_every_half_minute(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    runtime = app.state.runtime
    job = runtime.rollups
    assert job in runtime.periodic(with_outbox=True)  # `pocketshop worker`'s
    assert job in runtime.periodic(with_outbox=False)  # the server's embedded worker's
    merchant = await make_merchant(app)
    await view(app, f"/s/{merchant.shop.slug}")
    await flush(app)
    await job()
    assert (await analytics(client, merchant))["today"]["views"] == 1
    await view(app, f"/s/{merchant.shop.slug}", SAFARI)
    await flush(app)
    await job()  # too soon: nothing
    assert (await analytics(client, merchant))["today"]["views"] == 1
    clock.advance(timedelta(seconds=analytics_jobs.ROLLUP_SECONDS))
    await job()
    assert (await analytics(client, merchant))["today"]["views"] == 2
