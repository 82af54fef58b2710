"""A refused add to the cart or "buy now" (no SKU chosen, a bad quantity, sold out) sends the
buyer back to the product page's buy form with a code in the URL (POST-redirect-GET): the page
tells why next to the choice, changes nothing, and never caches or echoes the URL's text."""

import re

import httpx
from fastapi import FastAPI

from pocketshop.cache import TaggedCache
from pocketshop.catalog import adjustments
from pocketshop.catalog.adjustments import AdjustmentReason
from pocketshop.db import Database
from pocketshop.orders.service import MAX_QUANTITY
from pocketshop.web.guest_cart import CART_COOKIE
from tests.commerce import make_buyer
from tests.orders.test_store_pages import add, cart_items, log_in, setup_shop
from tests.support import other_client, page_alert, tr


def buy_form(html: str) -> str:
    return html.split('id="buy"', 1)[1].split("</form>", 1)[0]


def fieldset(html: str, index: int) -> str:
    return buy_form(html).split(f'data-dimension="{index}"', 1)[1].split("</fieldset>", 1)[0]


def page_cache(app: FastAPI) -> TaggedCache:
    cache: TaggedCache = app.state.db.page_cache
    return cache


async def test_no_sku_chosen_goes_back_to_the_picker(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, made = await setup_shop(app)
    for buy_now in (False, True):
        refused = await add(client, shop, made, "红", quantity=2, buy_now=buy_now)
        assert refused.status_code == 303
        location = refused.headers["location"]
        assert (
            location == f"/s/{shop.slug}/p/{made.id}?error=spec_required&spec0=%E7%BA%A2&qty=2#buy"
        )
        page = await client.get(location)
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        # The message sits in the size picker, whose choices are marked invalid; the colour
        # and quantity the buyer chose are kept.
        size = fieldset(page.text, 1)
        assert page_alert(size) == ("spec_required", tr("Choose a %(name)s.", name="尺码"))
        assert size.count('aria-invalid="true"') == 2
        assert 'role="alert"' not in fieldset(page.text, 0)
        assert 'name="spec0" value="红" checked' in page.text
        assert 'name="quantity" value="2"' in page.text
        assert CART_COOKIE not in client.cookies


async def test_a_quantity_refusal_is_told_at_the_quantity(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, made = await setup_shop(app)
    for typed, shown, code in (("0", "0", "invalid_quantity"), ("abc", "1", "invalid_quantity")):
        refused = await add(client, shop, made, "蓝", "S", quantity=typed)
        page = await client.get(refused.headers["location"])
        form = buy_form(page.text)
        before, after = form.split('<label class="quantity">', 1)
        assert page_alert(before.rsplit("</fieldset>", 1)[1])[0] == code
        assert (
            tr("A quantity must be a whole number from 1 to %(max)s.", max=MAX_QUANTITY) in before
        )
        assert re.search(rf'name="quantity" value="{shown}"[^>]*aria-invalid="true"', after)
    too_many = await add(client, shop, made, "蓝", "S", quantity=6)
    page = await client.get(too_many.headers["location"])
    assert page_alert(page.text)[1] == tr(
        "Only %(left)s left of “%(spec)s”.", left=5, spec="蓝 / S"
    )
    assert 'name="quantity" value="6"' in page.text
    assert CART_COOKIE not in client.cookies


async def test_a_buyers_refusal_changes_no_cart(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        await adjustments.adjust_stock(
            session, shop, made.sku("红", "M").public_id, delta=-5, reason=AdjustmentReason.other
        )
    buyer, other = await make_buyer(app), await make_buyer(app)
    await log_in(app, client, buyer.user)
    async with other_client(app) as theirs:
        await log_in(app, theirs, other.user)
        assert (await add(theirs, shop, made, "蓝", "M")).status_code == 303
        before = await cart_items(app, other.user)
        assert len(before) == 1
        for buy_now in (False, True):
            refused = await add(client, shop, made, "红", "M", buy_now=buy_now)
            assert refused.headers["location"].startswith(
                f"/s/{shop.slug}/p/{made.id}?error=sold_out&"
            )
            page = await client.get(refused.headers["location"])
            message = tr("Sold out: “%(spec)s”. Choose another.", spec="红 / M")
            assert page_alert(fieldset(page.text, 1)) == ("sold_out", message)
        assert await cart_items(app, buyer.user) == {}
        assert await cart_items(app, other.user) == before


async def test_an_error_page_is_never_cached(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    clean = f"/s/{shop.slug}/p/{made.id}"
    assert 'role="alert"' not in (await client.get(clean)).text
    cache = page_cache(app)
    cached = len(cache)
    refused = await add(client, shop, made, "红")
    location = refused.headers["location"].split("#")[0]
    async with other_client(app) as stranger:
        for visitor in (client, stranger, client):
            page = await visitor.get(location)
            assert page_alert(page.text)[0] == "spec_required"
            assert "__csrf_token_placeholder__" not in page.text
    assert len(cache) == cached
    # The page everyone else gets is the clean one, still from the cache.
    again = await client.get(clean)
    assert 'role="alert"' not in again.text
    assert "aria-invalid" not in again.text


async def test_the_url_text_is_never_shown(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    base = f"/s/{shop.slug}/p/{made.id}"
    odd = await client.get(f"{base}?error=%3Cb%3Eboo%3C/b%3E&spec0=%3Cb%3Eevil&qty=1e9")
    assert odd.status_code == 200
    assert 'role="alert"' not in odd.text
    assert "evil" not in odd.text
    assert "boo" not in odd.text
    assert 'name="quantity" value="1"' in odd.text
    # A value the product does not have is not chosen, nor named: the page asks for a choice.
    sold = await client.get(f"{base}?error=sold_out&spec0=%E7%B4%AB&spec1=XL&qty=1")
    assert 'value="紫"' not in sold.text
    assert "XL" not in sold.text
    assert page_alert(sold.text)[1] == tr("Choose a %(name)s.", name="颜色")
