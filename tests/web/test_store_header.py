"""A shop's pages have one compact header (the shop, search, cart, the visitor's account)
in place of the site's top bar; pages outside a shop keep the top bar."""

import httpx
from fastapi import FastAPI

from tests.commerce import make_buyer, make_merchant, make_product, web_login
from tests.support import other_client


def header(html: str) -> str:
    assert html.count("<header") == 1, "one header"
    return html.split("<header", 1)[1].split("</header>", 1)[0]


async def test_shop_pages_have_one_compact_header(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "一个头")
    slug = merchant.shop.slug
    for path in (f"/s/{slug}", f"/s/{slug}/p/{made.id}", f"/s/{slug}/cart", f"/s/{slug}/checkout"):
        page = await client.get(path)
        assert page.status_code == 200, path
        top = header(page.text)
        assert 'class="topbar store-bar"' in top
        assert merchant.shop.name in top
        assert f'href="/s/{slug}"' in top
        assert f'href="/s/{slug}#search"' in top
        assert f'href="/s/{slug}/cart"' in top
        assert f'href="/login?next={path}"' in top
        assert 'class="brand"' not in top  # not the site's top bar
        assert 'class="store-nav"' not in page.text  # nor the old second strip
    assert 'id="search"' in (await client.get(f"/s/{slug}")).text


async def test_the_account_menu(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    buyer = await make_buyer(app)
    home = f"/s/{merchant.shop.slug}"
    await web_login(app, client, buyer.user)
    top = header((await client.get(home)).text)
    for link in ("/me/orders", "/me/notifications", f"/onboarding?from={merchant.shop.slug}"):
        assert f'href="{link}"' in top
    assert 'action="/logout"' in top
    assert "/login?" not in top
    async with other_client(app) as owner:
        await web_login(app, owner, merchant.user)
        top = header((await owner.get(home)).text)
        assert 'href="/console"' in top
        assert 'href="/onboarding' not in top
    # Outside a shop: the site's top bar.
    assert 'class="brand"' in header((await client.get("/me/orders")).text)
