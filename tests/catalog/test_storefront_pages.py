"""The shop home and product pages as a buyer's phone gets them: on-sale products only, groups,
pages, search, Open Graph cards, escaped user text, and a cache that never shows stale money."""

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from pocketshop.catalog import adjustments
from pocketshop.catalog import groups as catalog_groups
from pocketshop.catalog import service as catalog
from pocketshop.catalog.adjustments import AdjustmentReason
from pocketshop.catalog.models import Product
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.db import Database
from pocketshop.shops.models import Shop
from tests.commerce import (
    ADDRESS,
    add_photos,
    edit_product,
    make_buyer,
    make_merchant,
    make_product,
    ordered,
)
from tests.conftest import BASE_URL
from tests.support import image_bytes, tr

XSS_TITLE = "<script>alert(1)</script>"
XSS_DESCRIPTION = '<p>好货</p><img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a>'


def product_links(html: str) -> list[str]:
    return re.findall(r'class="product-card" href="/s/[^/]+/p/([0-9a-f]+)"', html)


def meta(html: str, name: str) -> str:
    found = re.search(rf'<meta property="{re.escape(name)}" content="([^"]*)">', html)
    assert found, f"no {name} meta tag"
    return found.group(1)


async def make_raw(
    app: FastAPI, shop: Shop, data: ProductInput, *, photos: int = 1, publish: bool = True
) -> str:
    """A product straight from the catalog service (description, group, photos: putting it
    on sale needs one)."""
    db: Database = app.state.db
    async with db.transaction() as session:
        product = await catalog.create(session, shop, data)
    if photos:
        await add_photos(app, shop, product.public_id, [image_bytes()] * photos)
    if publish:
        async with db.transaction() as session:
            await catalog.set_status(session, shop, product.public_id, ProductStatus.on_sale)
    return product.public_id


def one_sku(title: str, price: int = 1000, stock: int = 5, **extra: object) -> ProductInput:
    return ProductInput(
        title=title,
        skus=(SkuInput(spec=(), price=price, stock=stock),),
        **extra,  # type: ignore[arg-type]
    )


async def test_shop_home_lists_on_sale_products(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    on_sale = await make_product(app, merchant.shop, "在售的钱包", price=1200)
    draft = await make_product(app, merchant.shop, "草稿", status=ProductStatus.draft)
    off = await make_product(app, merchant.shop, "下架", status=ProductStatus.off_shelf)
    ranged = await make_product(
        app,
        merchant.shop,
        "两种价",
        specs={"颜色": ["红", "蓝"]},
        prices={("红",): 1200, ("蓝",): 1500},
    )
    sold_out = await make_product(app, merchant.shop, "卖完了", stock=0)
    other = await make_merchant(app, "别人的店")
    foreign = await make_product(app, other.shop, "别人的商品")

    page = await client.get(f"/s/{merchant.shop.slug}")
    assert page.status_code == 200, page.text
    assert set(product_links(page.text)) == {on_sale.id, ranged.id, sold_out.id}
    for hidden in (draft, off, foreign):
        assert hidden.id not in page.text
    assert "¥12.00" in page.text
    assert tr("from %(price)s", price="¥12.00") in page.text  # ¥12.00 起
    english = await client.get(f"/s/{merchant.shop.slug}", headers={"Accept-Language": "en"})
    assert "from ¥12.00" in english.text
    card = page.text.split(sold_out.id, 1)[1].split("</li>", 1)[0]
    assert tr("Sold out") in card
    assert f'href="/s/{merchant.shop.slug}/cart"' in page.text
    assert tr("Open your own shop") in page.text

    head = await client.head(f"/s/{merchant.shop.slug}")
    assert head.status_code == 200


async def test_empty_shop_and_unknown_shop(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    page = await client.get(f"/s/{merchant.shop.slug}")
    assert page.status_code == 200
    assert tr("No products yet. Come back soon!") in page.text
    missing = await client.get("/s/no-such-shop")
    assert missing.status_code == 404
    assert 'class="card error-page"' in missing.text


async def test_pagination(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = [await make_raw(app, merchant.shop, one_sku(f"商品 {n}")) for n in range(23)]
    first = await client.get(f"/s/{merchant.shop.slug}")
    on_first = product_links(first.text)
    assert on_first == list(reversed(made))[:20]  # newest first
    assert f'rel="next" href="/s/{merchant.shop.slug}?page=2"' in first.text
    assert 'rel="prev"' not in first.text

    second = await client.get(f"/s/{merchant.shop.slug}?page=2")
    assert product_links(second.text) == list(reversed(made))[20:]
    assert f'rel="prev" href="/s/{merchant.shop.slug}"' in second.text
    assert 'rel="next"' not in second.text

    beyond = await client.get(f"/s/{merchant.shop.slug}?page=9")
    assert beyond.status_code == 200
    assert product_links(beyond.text) == []
    for bad in ("0", "-1", "x", "99999999"):
        assert (await client.get(f"/s/{merchant.shop.slug}?page={bad}")).status_code == 422


async def test_group_filter(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        bags = await catalog_groups.create_group(session, merchant.shop, "包包")
        empty = await catalog_groups.create_group(session, merchant.shop, "空分组")
    bag = await make_raw(app, merchant.shop, one_sku("托特包", group_id=bags.public_id))
    wallet = await make_raw(app, merchant.shop, one_sku("钱包"))

    home = await client.get(f"/s/{merchant.shop.slug}")
    assert set(product_links(home.text)) == {bag, wallet}
    assert f"?group={bags.public_id}" in home.text
    assert empty.public_id not in home.text  # groups with nothing on sale are not shown

    grouped = await client.get(f"/s/{merchant.shop.slug}?group={bags.public_id}")
    assert product_links(grouped.text) == [bag]
    assert re.search(rf'group={bags.public_id}" aria-current="page"', grouped.text)

    other = await make_merchant(app, "别人的店")
    async with db.transaction() as session:
        foreign = await catalog_groups.create_group(session, other.shop, "别人的分组")
    for group in (foreign.public_id, "nope"):
        assert (await client.get(f"/s/{merchant.shop.slug}?group={group}")).status_code == 404


async def test_search_inside_the_shop(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    leather = await make_raw(app, merchant.shop, one_sku("Leather Wallet 皮夹"))
    percent = await make_raw(app, merchant.shop, one_sku("100% 棉 T 恤"))
    await make_raw(app, merchant.shop, one_sku("1000 棉袜"))
    other = await make_merchant(app, "别人的店")
    await make_raw(app, other.shop, one_sku("leather belt"))

    found = await client.get(f"/s/{merchant.shop.slug}", params={"q": "LEATHER"})
    assert product_links(found.text) == [leather]
    literal = await client.get(f"/s/{merchant.shop.slug}", params={"q": "100%"})
    assert product_links(literal.text) == [percent]
    underscore = await client.get(f"/s/{merchant.shop.slug}", params={"q": "1_0"})
    assert product_links(underscore.text) == []
    assert tr("Nothing in this shop matches “%(query)s”.", query="1_0") in underscore.text


async def test_user_text_is_inert(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    product = await make_raw(app, merchant.shop, one_sku(XSS_TITLE, description=XSS_DESCRIPTION))
    for path in (f"/s/{merchant.shop.slug}", f"/s/{merchant.shop.slug}/p/{product}"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "onerror" not in page.text
        assert "javascript:" not in page.text
    assert "<p>好货</p>" in page.text  # the cleaned rich text keeps its formatting


async def test_product_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(
        app,
        merchant.shop,
        "手工皮钱包",
        specs={"颜色": ["红", "蓝"], "尺码": ["S", "M"]},
        prices={("红", "S"): 9900, ("红", "M"): 10900, ("蓝", "S"): 9900, ("蓝", "M"): 9900},
        stock=3,
    )
    page = await client.get(f"/s/{merchant.shop.slug}/p/{made.id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert tr("from %(price)s", price="¥99.00") in html
    assert tr("Only %(count)s left", count=12) not in html  # 4 SKUs × 3 = 12 in stock
    assert tr("In stock") in html  # plenty: no number, so a sale does not drop the page
    assert '"stock": 3' in html  # each SKU is low: the picker shows its count
    for name, value in (("spec0", "红"), ("spec0", "蓝"), ("spec1", "S"), ("spec1", "M")):
        assert f'name="{name}" value="{value}"' in html
    assert f'action="/s/{merchant.shop.slug}/cart/add"' in html
    assert 'name="buy_now" value="1"' in html
    assert tr("Free shipping") in html
    assert 'class="gallery"' in html  # its photo: on sale only with one

    assert meta(html, "og:title") == "手工皮钱包"
    assert "¥99.00" in meta(html, "og:description")
    assert meta(html, "product:price:amount") == "99.00"
    assert meta(html, "product:price:currency") == "CNY"
    assert meta(html, "og:url") == f"{BASE_URL}/s/{merchant.shop.slug}/p/{made.id}"


async def test_open_graph_image_is_absolute(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    product = await make_raw(app, merchant.shop, one_sku("有照片", price=2550), photos=3)
    page = await client.get(f"/s/{merchant.shop.slug}/p/{product}")
    image = meta(page.text, "og:image")
    assert image.startswith(f"{BASE_URL}/media/")
    assert (await client.get(image.removeprefix(BASE_URL))).status_code == 200
    assert "¥25.50" in meta(page.text, "og:description")
    assert page.text.count('class="gallery"') == 1
    assert len(re.findall(r'<img id="photo-\d"', page.text)) == 3
    assert len(re.findall(r'<a href="#photo-\d"><img', page.text)) == 3

    home = await client.get(f"/s/{merchant.shop.slug}")
    # No logo: the shop's card shows its first product photo.
    assert meta(home.text, "og:image").startswith(f"{BASE_URL}/media/")
    assert meta(home.text, "og:url") == f"{BASE_URL}/s/{merchant.shop.slug}"


async def test_stock_states(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    low = await make_product(app, merchant.shop, "快没了", stock=2)
    gone = await make_product(app, merchant.shop, "没了", stock=0)
    low_page = await client.get(f"/s/{merchant.shop.slug}/p/{low.id}")
    assert tr("Only %(count)s left", count=2) in low_page.text
    gone_page = await client.get(f"/s/{merchant.shop.slug}/p/{gone.id}")
    assert 'class="stock-state is-sold-out"' in gone_page.text
    # Nothing to buy: both buttons off, the main one saying why.
    assert buy_buttons(low_page.text) == [("", tr("Add to cart")), ("", tr("Buy now"))]
    assert buy_buttons(gone_page.text) == [
        ("disabled", tr("Add to cart")),
        ("disabled", tr("Sold out")),
    ]


def buy_buttons(html: str) -> list[tuple[str, str]]:
    """(disabled or "", label) of the buy bar's two buttons."""
    return [
        ("disabled" if " disabled" in attributes else "", label)
        for attributes, label in BUY_BUTTON.findall(html)
    ]


BUY_BUTTON = re.compile(
    r'<button type="submit" class="button[^"]*(?:add-to-cart|buy-now)"([^>]*)>([^<]*)</button>'
)


async def test_unsellable_products_are_a_friendly_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    other = await make_merchant(app, "别人的店")
    draft = await make_product(app, merchant.shop, "草稿", status=ProductStatus.draft)
    off = await make_product(app, merchant.shop, "下架", status=ProductStatus.off_shelf)
    foreign = await make_product(app, other.shop, "别人的")
    for product_id in (draft.id, off.id, foreign.id, "nope"):
        page = await client.get(f"/s/{merchant.shop.slug}/p/{product_id}")
        assert page.status_code == 404
        assert tr("This product is not on sale, or does not exist.") in page.text
        assert 'class="card error-page"' in page.text


async def test_cached_pages_show_new_prices_and_stock_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "会变价", specs={"颜色": ["红"]}, price=1000)
    path = f"/s/{merchant.shop.slug}/p/{made.id}"
    home = f"/s/{merchant.shop.slug}"
    for _ in range(2):  # the second answer comes from the cache
        assert "¥10.00" in (await client.get(path)).text
        assert "¥10.00" in (await client.get(home)).text
    assert len(app.state.db.page_cache) >= 2

    await edit_product(
        app,
        merchant.shop,
        made.id,
        ProductInput(
            title="会变价",
            specs=(SpecDimension("颜色", ("红",)),),
            skus=(SkuInput(spec=("红",), price=1250, stock=10),),
        ),
    )
    page = await client.get(path)
    assert "¥12.50" in page.text
    assert "¥10.00" not in page.text
    assert "¥12.50" in (await client.get(home)).text
    assert tr("In stock") in page.text

    # An order takes stock: the very next page shows what is left.
    buyer = await make_buyer(app)
    ordered = await client.post(
        "/api/v1/orders",
        json={
            "shop": merchant.shop.slug,
            "lines": [{"sku_id": made.skus[0].public_id, "quantity": 7}],
            "address": ADDRESS,
        },
        headers=buyer.auth,
    )
    assert ordered.status_code == 201, ordered.text
    assert tr("Only %(count)s left", count=3) in (await client.get(path)).text


async def test_orders_drop_a_cached_page_only_when_what_it_shows_changes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "热卖", stock=20)
    path = f"/s/{merchant.shop.slug}/p/{made.id}"
    buyer = await make_buyer(app)
    page_cache = app.state.db.page_cache
    sku = made.skus[0]

    assert tr("In stock") in (await client.get(path)).text
    before = page_cache.snapshot()
    await ordered(client, buyer, merchant.shop, [(sku, 2)])  # 18 left: still "in stock"
    assert page_cache.snapshot() == before
    assert tr("In stock") in (await client.get(path)).text

    number = await ordered(client, buyer, merchant.shop, [(sku, 13)])  # 5 left: says so at once
    assert tr("Only %(count)s left", count=5) in (await client.get(path)).text
    cancelled = await client.post(f"/api/v1/orders/{number}/cancel", headers=buyer.auth)
    assert cancelled.status_code == 200, cancelled.text
    page = (await client.get(path)).text  # 18 again
    assert tr("In stock") in page
    assert tr("Only %(count)s left", count=5) not in page


async def test_description_shows_formatted_and_old_plain_text_as_paragraphs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    formatted = (
        "<h3>材质</h3><p>头层<strong>牛皮</strong><br>手工<em>缝线</em></p><ul><li>黑</li></ul>"
    )
    product = await make_raw(app, merchant.shop, one_sku("钱包", description=formatted))
    page = await client.get(f"/s/{merchant.shop.slug}/p/{product}")
    assert f'<div class="rich-text">{formatted}</div>' in page.text
    # A description stored as plain text (before formatting) shows as paragraphs, inert.
    async with app.state.db.transaction() as session:
        await session.execute(
            update(Product)
            .where(Product.public_id == product)
            .values(description_html="第一段\n第二行\n\n第二段 <3 & >")
        )
    page = await client.get(f"/s/{merchant.shop.slug}/p/{product}?again")
    assert (
        '<div class="rich-text"><p>第一段<br>第二行</p><p>第二段 &lt;3 &amp; &gt;</p></div>'
        in page.text
    )


async def test_a_sold_out_size_is_marked_without_javascript(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "T 恤", specs={"尺码": ["S", "M", "L"]})
    db: Database = app.state.db
    async with db.transaction() as session:
        await adjustments.adjust_stock(
            session,
            merchant.shop,
            made.sku("M").public_id,
            delta=-10,
            reason=AdjustmentReason.other,
        )
    page = await client.get(f"/s/{merchant.shop.slug}/p/{made.id}")
    labels = re.findall(
        r'<label class="spec-value( sold-out)?">\s*<input[^>]*value="([^"]*)"', page.text
    )
    assert {value: bool(mark) for mark, value in labels} == {"S": False, "M": True, "L": False}
    # Other sizes are in stock: the product can still be bought.
    assert buy_buttons(page.text) == [("", tr("Add to cart")), ("", tr("Buy now"))]
