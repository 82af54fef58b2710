"""The app's own pages: the icon every browser asks for, linked from every page."""

import io

import httpx
from PIL import Image


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
