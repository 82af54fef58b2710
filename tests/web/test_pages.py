"""The app's own pages: the home (in the demo it leads into the demo's shop and console),
and the icon every browser asks for, linked from every page."""

import io

import httpx
from fastapi import FastAPI
from PIL import Image

from pocketshop import demo
from pocketshop.app import create_app
from pocketshop.config import Environment, Settings
from tests.support import tr


async def test_the_icon_is_served_and_linked(client: httpx.AsyncClient) -> None:
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert "max-age" in icon.headers["cache-control"]
    with Image.open(io.BytesIO(icon.content)) as image:
        assert image.format == "ICO"
        assert {(16, 16), (32, 32)} <= set(image.info["sizes"])
    home = await client.get("/")
    assert '<link rel="icon" href="/static/favicon.svg' in home.text
    svg = await client.get("/static/favicon.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")


async def test_the_demos_home_leads_into_its_shop_and_console(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    seeded = await demo.seed(app.state.db, settings, app.state.payments.providers)
    # Not in a real deployment (here: the tests' own): its home is about opening a shop.
    assert f'href="/s/{seeded.slug}"' not in (await client.get("/")).text

    demo_app = create_app(settings.model_copy(update={"env": Environment.demo}))
    try:
        transport = httpx.ASGITransport(app=demo_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as visit:
            home = (await visit.get("/")).text
    finally:
        await demo_app.state.runtime.close()
    assert f'<a class="button primary block" href="/s/{seeded.slug}">' in home
    assert tr("Shop at %(name)s", name=demo.DEMO_SHOP) in home
    assert '<a class="button block" href="/console">' in home
    assert "138 0013 8000" in home
    assert '<a class="button primary block" href="/onboarding">' in home
