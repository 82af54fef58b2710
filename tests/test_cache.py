"""The rendered-page cache: exact invalidation by tag, at commit and never before; a render that
raced an invalidation is not stored; bounded; on PostgreSQL other processes hear of it. The
rows it keeps (a shop, its shipping terms) follow the same rules."""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from pocketshop import cache
from pocketshop.cache import NotifyListener, TaggedCache
from pocketshop.db import Database
from pocketshop.orders import shipping_fees
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from tests.commerce import make_buyer, make_merchant, make_product, place_order
from tests.conftest import is_postgres
from tests.support import statements_run


async def eventually(check: Callable[[], bool], seconds: float = 5) -> None:
    """Wait (briefly polling) until `check()` holds; fails after `seconds`."""
    for _ in range(int(seconds * 100)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def rolled_back(db: Database, *tags: str) -> None:
    async with db.transaction() as session:
        cache.invalidate(session, *tags)
        raise RuntimeError("rolled back")


def filled(*entries: tuple[str, list[str]]) -> TaggedCache:
    pages = TaggedCache(max_entries=100)
    for key, tags in entries:
        assert pages.put((key,), key.encode(), tags, pages.snapshot())
    return pages


def test_put_and_get() -> None:
    pages = TaggedCache()
    assert pages.get(("home",)) is None
    assert pages.put(("home",), b"<html>", ["shop:1"], pages.snapshot())
    assert pages.get(("home",)) == b"<html>"
    assert pages.put(("home",), b"<html>2", ["shop:1"], pages.snapshot())
    assert pages.get(("home",)) == b"<html>2"
    assert len(pages) == 1


def test_invalidating_a_tag_drops_exactly_its_pages() -> None:
    pages = filled(
        ("home", ["shop:1"]),
        ("product 7", ["product:7", "shop:1"]),
        ("product 8", ["product:8", "shop:1"]),
        ("other shop", ["shop:2"]),
    )
    pages.invalidate(["product:7"])
    assert pages.get(("product 7",)) is None
    assert [pages.get((k,)) for k in ("home", "product 8", "other shop")] == [
        b"home",
        b"product 8",
        b"other shop",
    ]
    pages.invalidate(["shop:1"])
    assert [pages.get((k,)) for k in ("home", "product 8")] == [None, None]
    assert pages.get(("other shop",)) == b"other shop"
    assert len(pages) == 1
    pages.invalidate(["shop:99", "product:7"])  # unknown or already dropped: fine
    assert len(pages) == 1


def test_a_render_that_raced_an_invalidation_is_not_stored() -> None:
    pages = TaggedCache()
    before_render = pages.snapshot()
    pages.invalidate(["product:7"])  # a price changed while the page was being rendered
    assert not pages.put(("product 7",), b"old price", ["product:7", "shop:1"], before_render)
    assert pages.get(("product 7",)) is None
    # A page that shows none of the changed tags may be stored.
    assert pages.put(("product 8",), b"ok", ["product:8", "shop:1"], before_render)
    # A render that began after the invalidation may be stored too.
    assert pages.put(("product 7",), b"new price", ["product:7"], pages.snapshot())
    assert pages.get(("product 7",)) == b"new price"


def test_clear_refuses_renders_begun_before_it() -> None:
    pages = filled(("home", ["shop:1"]))
    before = pages.snapshot()
    pages.invalidate([cache.ALL])
    assert len(pages) == 0
    assert not pages.put(("home",), b"old", ["shop:1"], before)
    assert pages.put(("home",), b"new", ["shop:1"], pages.snapshot())
    pages.clear()
    assert pages.get(("home",)) is None


def test_lru_bound() -> None:
    pages = TaggedCache(max_entries=2)
    assert pages.put(("a",), b"a", ["t:a", "shared"], pages.snapshot())
    assert pages.put(("b",), b"b", ["t:b", "shared"], pages.snapshot())
    assert pages.get(("a",)) == b"a"  # a is now the most recently used
    assert pages.put(("c",), b"c", ["t:c"], pages.snapshot())
    assert len(pages) == 2
    assert [pages.get((k,)) for k in ("a", "b", "c")] == [b"a", None, b"c"]
    pages.invalidate(["t:b", "shared"])
    assert [pages.get((k,)) for k in ("a", "c")] == [None, b"c"]


def test_what_it_remembers_of_changed_tags_is_bounded() -> None:
    """Misses of a guesser from ever new addresses invalidate ever new tags: past a bound the
    cache forgets them all, and refuses what a render begun before would store."""
    rows = TaggedCache(max_entries=2)
    assert rows.put(("kept",), b"x", ["shop:1"], rows.snapshot())
    begun = rows.snapshot()
    rows.invalidate([f"misses:ip:10.0.{n}.0" for n in range(cache.FORGET_AFTER * 2)])
    assert rows.get(("kept",)) == b"x"  # at the bound: nothing forgotten yet
    rows.invalidate(["misses:ip:10.1.0.0"])
    assert rows.get(("kept",)) is None
    assert not rows.put(("late",), b"y", ["misses:ip:10.0.0.0"], begun)
    assert rows.put(("late",), b"y", ["misses:ip:10.0.0.0"], rows.snapshot())
    assert len(rows._invalidated_at) == 0


def test_disabled_or_disconnected_cache_serves_nothing() -> None:
    off = TaggedCache(enabled=False)
    assert not off.put(("a",), b"a", [], off.snapshot())
    assert off.get(("a",)) is None
    pages = filled(("a", []))
    pages.connected = False
    assert pages.get(("a",)) is None
    assert not pages.put(("b",), b"b", [], pages.snapshot())


async def test_tags_drop_at_commit_never_on_rollback(db: Database) -> None:
    pages = db.page_cache
    assert pages is not None
    assert pages.put(("home",), b"home", ["shop:1"], pages.snapshot())
    with pytest.raises(RuntimeError):
        await rolled_back(db, "shop:1")
    assert pages.get(("home",)) == b"home"
    async with db.transaction() as session:
        cache.invalidate(session, "shop:1")
        assert pages.get(("home",)) == b"home"  # not before the commit
    assert pages.get(("home",)) is None


async def test_orders_and_edits_invalidate_the_pages_that_show_them(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    pages = db.page_cache
    assert pages is not None
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, stock=2)
    sku = made.skus[0]
    product_tag = cache.product_tag(made.product.id)
    shop_tag = cache.shop_tag(merchant.shop.id)

    def show() -> None:
        assert pages.put(("product",), b"p", [product_tag], pages.snapshot())
        assert pages.put(("home",), b"h", [shop_tag], pages.snapshot())

    def shown() -> tuple[bool, bool]:
        return pages.get(("product",)) is not None, pages.get(("home",)) is not None

    buyer = await make_buyer(app)
    show()
    assert (await place_order(client, buyer, merchant.shop, [(sku, 1)])).status_code == 201
    assert shown() == (False, True)  # stock changed on the product page; still in stock
    show()
    assert (await place_order(client, buyer, merchant.shop, [(sku, 1)])).status_code == 201
    assert shown() == (False, False)  # sold out: the grid changes too
    show()
    refused = await place_order(client, buyer, merchant.shop, [(sku, 1)])
    assert refused.status_code == 409
    assert shown() == (True, True)  # nothing changed, nothing dropped
    adjusted = await client.post(
        f"/api/v1/me/shop/skus/{sku.public_id}/stock-adjustments",
        json={"delta": 3, "reason": "restock"},
        headers=merchant.auth,
    )
    assert adjusted.status_code == 201, adjusted.text
    assert shown() == (False, False)


@pytest.fixture
async def listener(db: Database) -> AsyncIterator[NotifyListener]:
    heard = NotifyListener([TaggedCache(), TaggedCache()], db.url)
    heard.start()
    try:
        await eventually(lambda: all(tagged.connected for tagged in heard.caches), 10)
        yield heard
    finally:
        await heard.stop()


@pytest.mark.skipif(not is_postgres(), reason="NOTIFY is PostgreSQL's")
async def test_another_process_hears_committed_invalidations(
    db: Database, listener: NotifyListener
) -> None:
    pages, rows = listener.caches
    for key in ("kept", "dropped"):
        for tagged in (pages, rows):
            assert tagged.put((key,), b"x", [f"product:{key}"], tagged.snapshot())
    with pytest.raises(RuntimeError):
        await rolled_back(db, "product:kept")  # no notification
    async with db.transaction() as session:
        cache.invalidate(session, "product:dropped", "shop:5")
    await eventually(lambda: pages.get(("dropped",)) is None and rows.get(("dropped",)) is None)
    # Notifications arrive in commit order, so the rolled-back one would have come first.
    assert pages.get(("kept",)) == rows.get(("kept",)) == b"x"


@pytest.mark.skipif(not is_postgres(), reason="NOTIFY is PostgreSQL's")
async def test_another_process_hears_of_a_change_the_commit_itself_flushed(
    app: FastAPI, db: Database, listener: NotifyListener
) -> None:
    merchant = await make_merchant(app)
    _pages, rows = listener.caches
    tag = cache.shop_tag(merchant.shop.id)
    assert rows.put(("shop",), b"x", [tag], rows.snapshot())
    async with db.transaction() as session:
        shop = await session.get_one(Shop, merchant.shop.id)
        shop.name = "改名"  # no flush: the commit writes it
    await eventually(lambda: rows.get(("shop",)) is None)


async def test_a_shop_and_its_shipping_terms_are_read_once_until_the_shop_changes(
    app: FastAPI, db: Database
) -> None:
    merchant = await make_merchant(app, "老店")
    slug = merchant.shop.slug

    async def read() -> tuple[str, shipping_fees.Terms, list[str]]:
        async with db.transaction() as session:
            with statements_run(db) as seen:
                shop = await shops.get_by_slug_or_404(session, slug)
                assert shop in session  # a persistent object, as if loaded
                terms = await shipping_fees.rule_for(session, shop)
        return shop.name, terms, [s for s in seen if s.lstrip().upper().startswith("SELECT")]

    async def rename_then_roll_back(name: str) -> None:
        async with db.transaction() as session:
            shop = await session.get_one(Shop, merchant.shop.id)
            shop.name = name
            await session.flush()
            assert (await shops.get_by_slug_or_404(session, slug)).name == name
            raise RuntimeError("rolled back")

    name, terms, queries = await read()
    assert (name, terms, len(queries)) == ("老店", shipping_fees.FREE, 2)
    assert await read() == ("老店", shipping_fees.FREE, [])  # both from the cache

    # A change that rolls back keeps the cached row.
    with pytest.raises(RuntimeError):
        await rename_then_roll_back("不算数")
    assert await read() == ("老店", shipping_fees.FREE, [])

    # Committed changes are read at once: the shop (through the ORM), its shipping rule. The
    # transaction making them sees its own, not the cached ones.
    async with db.transaction() as session:
        shop = await shops.get_by_slug_or_404(session, slug)
        shop.name = "新店名"
        await shipping_fees.set_rule(session, shop, kind=shipping_fees.RuleKind.flat, fee=800)
        assert (await shipping_fees.rule_for(session, shop)).fee == 800
    name, terms, queries = await read()
    assert (name, terms.fee, len(queries)) == ("新店名", 800, 2)

    # A transaction that reads back its own change does not store it: it may roll back.
    async with db.transaction() as session:
        shop = await shops.get_by_slug_or_404(session, slug)
        shop.name = "又改了"
    with pytest.raises(RuntimeError):
        await rename_then_roll_back("没提交")
    name, terms, queries = await read()
    assert (name, terms.fee, len(queries)) == ("又改了", 800, 2)
