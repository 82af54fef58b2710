"""Logged-out visitors are answered from the page cache before routing: each with their own
CSRF token, never with a page made for someone logged in, never after a change."""

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from pocketshop.cache import TaggedCache
from pocketshop.catalog.service import ProductInput, SkuInput
from pocketshop.db import Database
from tests.commerce import edit_product, make_buyer, make_merchant, make_product
from tests.support import csrf_from, other_client, page_login


def count_statements(app: FastAPI) -> list[str]:
    statements: list[str] = []
    db: Database = app.state.db

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return statements


async def test_a_cached_page_costs_no_query_and_fills_each_visitors_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "缓存的钱包")
    url = f"/s/{merchant.shop.slug}/p/{made.id}"
    first = await client.get(url)
    assert first.status_code == 200
    statements = count_statements(app)
    again = await client.get(url)
    assert again.status_code == 200
    assert statements == []  # answered from the cache
    assert "缓存的钱包" in again.text
    assert "__csrf_token_placeholder__" not in again.text
    async with other_client(app) as stranger:
        theirs = await stranger.get(url)
        assert statements == []
        assert csrf_from(theirs.text) != csrf_from(again.text)
        # The token works: a form post from the cached page is accepted (not 403).
        sku = made.skus[0].public_id
        added = await stranger.post(
            f"/s/{merchant.shop.slug}/cart/add",
            data={"csrf_token": csrf_from(theirs.text), "sku": sku, "quantity": "1"},
        )
        assert added.status_code != 403, added.text


async def test_another_query_or_language_is_another_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await make_product(app, merchant.shop, "第一件")
    home = f"/s/{merchant.shop.slug}"
    await client.get(home)
    statements = count_statements(app)
    english = await client.get(home, headers={"Accept-Language": "en"})
    assert statements, "an English page is not the cached Chinese one"
    assert 'lang="en"' in english.text
    statements.clear()
    await client.get(f"{home}?page=2")
    assert statements


async def test_logged_in_visitors_get_their_own_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await make_product(app, merchant.shop, "第一件")
    home = f"/s/{merchant.shop.slug}"
    anonymous = await client.get(home)
    assert "/logout" not in anonymous.text
    buyer = await make_buyer(app)
    done = await page_login(client, app, buyer.user.phone, home)
    assert done.status_code == 303
    mine = await client.get(home)
    assert "/logout" in mine.text
    assert "/logout" not in anonymous.text


async def test_a_change_is_visible_at_once_to_logged_out_visitors(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "会涨价的钱包", price=1000)
    url = f"/s/{merchant.shop.slug}/p/{made.id}"
    assert "¥10.00" in (await client.get(url)).text
    assert "¥10.00" in (await client.get(url)).text  # cached now
    await edit_product(
        app,
        merchant.shop,
        made.id,
        ProductInput(title="会涨价的钱包", skus=(SkuInput(spec=(), price=1500, stock=10),)),
    )
    page = (await client.get(url)).text
    assert "¥15.00" in page
    assert not re.search(r"¥10\.00", page)


async def test_without_a_cache_pages_still_render(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    await make_product(app, merchant.shop, "不缓存")
    app.state.db.page_cache = TaggedCache(enabled=False)
    for _ in range(2):
        page = await client.get(f"/s/{merchant.shop.slug}")
        assert page.status_code == 200
        assert "不缓存" in page.text
