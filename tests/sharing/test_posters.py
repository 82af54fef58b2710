"""Share posters: the PNG decodes, its QR code holds the product's (or shop's) link, its Chinese
is drawn in a CJK font and not as .notdef boxes, it is drawn once per version of what it
shows, and products not on sale have none."""

import io
import re
from datetime import timedelta
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
import zxingcpp
from fastapi import FastAPI
from markupsafe import escape
from PIL import Image, ImageChops, ImageDraw, ImageFont

from pocketshop import clock
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput
from pocketshop.config import Settings
from pocketshop.sharing import posters
from tests.commerce import Merchant, edit_product, make_merchant, make_product
from tests.support import tr

TITLE = "手工真皮钱包 经典款"
NOT_IN_ANY_FONT = "\U0010fffd"  # private use, plane 16: every font draws its .notdef here


async def payment_request(client: httpx.AsyncClient, merchant: Merchant) -> str:
    made = await client.post(
        "/api/v1/me/shop/payment-requests",
        json={"amount": 8800, "note": "定制刻字费"},
        headers=merchant.auth,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def decoded_link(png: bytes) -> str:
    image = Image.open(io.BytesIO(png))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, "one QR code on the poster"
    return str(found[0].text)


def drawn_as_notdef(font: ImageFont.FreeTypeFont, char: str) -> bool:
    def ink(text: str) -> Image.Image:
        canvas = Image.new("L", (80, 80), 0)
        ImageDraw.Draw(canvas).text((10, 10), text, font=font, fill=255)
        return canvas

    return ImageChops.difference(ink(char), ink(NOT_IN_ANY_FONT)).getbbox() is None


async def test_a_product_poster_links_to_the_product(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, TITLE, price=12900)
    path = f"/s/{merchant.shop.slug}/p/{made.id}/poster.png"

    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.size == (posters.WIDTH, posters.HEIGHT)
    assert decoded_link(answer.content) == f"http://testserver/s/{merchant.shop.slug}/p/{made.id}"
    # The title's band has ink: something was drawn there.
    band = image.convert("L").crop((0, posters.PHOTO, posters.WIDTH, posters.PHOTO + 100))
    assert band.getextrema()[0] < 128

    # Drawn once: the same version is read back, and a browser holding it is told so.
    etag = answer.headers["etag"]
    kept = list((app.state.settings.media_path / "posters").glob("*.png"))
    assert len(kept) == 1
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert (await client.get(path)).content == answer.content

    # A new title is a new version.
    new_title = ProductInput(title="新款钱包", skus=(SkuInput(spec=(), price=12900, stock=10),))
    await edit_product(app, merchant.shop, made.id, new_title)
    changed = await client.get(path)
    assert changed.headers["etag"] != etag
    assert len(list((app.state.settings.media_path / "posters").glob("*.png"))) == 2


async def test_a_shop_poster_links_to_the_shop(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    await make_product(app, merchant.shop, TITLE)
    answer = await client.get(f"/s/{merchant.shop.slug}/poster.png")
    assert answer.status_code == 200
    assert decoded_link(answer.content) == f"http://testserver/s/{merchant.shop.slug}"


async def test_no_poster_for_what_is_not_on_sale(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    draft = await make_product(app, merchant.shop, status=ProductStatus.draft)
    off = await make_product(app, merchant.shop, status=ProductStatus.off_shelf)
    for product in (draft, off):
        answer = await client.get(f"/s/{merchant.shop.slug}/p/{product.id}/poster.png")
        assert answer.status_code == 404
    assert (await client.get("/s/no-such-shop/poster.png")).status_code == 404


def test_chinese_is_drawn_with_a_cjk_font(settings: Settings) -> None:
    cjk = ImageFont.truetype(posters.font_path(settings), 40)
    assert not [char for char in TITLE.replace(" ", "") if drawn_as_notdef(cjk, char)]
    # The check can fail: a font without Chinese draws every character as its .notdef box.
    latin = ImageFont.load_default(size=40)
    assert all(drawn_as_notdef(latin, char) for char in "钱包")


def test_titles_wrap_in_two_lines_at_most(settings: Settings) -> None:
    font = ImageFont.truetype(posters.font_path(settings), 40)
    lines = posters.wrap("真皮" * 40, font, 670, lines=2)
    assert len(lines) == 2
    assert lines[1].endswith("…")
    assert all(font.getlength(line) <= 670 for line in lines)
    assert posters.wrap("Hand made leather wallet", font, 300, lines=2)[0] == "Hand made"


async def test_without_a_chinese_font_the_poster_says_so(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, TITLE)
    monkeypatch.setattr(posters, "KNOWN_FONTS", ())
    monkeypatch.setattr(posters.shutil, "which", lambda _name: None)
    answer = await client.get(f"/s/{merchant.shop.slug}/p/{made.id}/poster.png")
    assert answer.status_code == 503
    assert tr("Posters need a Chinese font on the server (Noto Sans CJK).") in answer.text


async def test_a_payment_request_poster_links_to_the_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    request_id = await payment_request(client, merchant)
    path = f"/s/{merchant.shop.slug}/pay/{request_id}"
    answer = await client.get(f"{path}/poster.png")
    assert answer.status_code == 200
    assert decoded_link(answer.content) == f"http://testserver{path}"
    assert (
        await client.get(f"/s/{merchant.shop.slug}/pay/{'0' * 32}/poster.png")
    ).status_code == 404
    other = await make_merchant(app, "隔壁的店")  # another shop's link does not reach it
    assert (
        await client.get(f"/s/{other.shop.slug}/pay/{request_id}/poster.png")
    ).status_code == 404


async def test_every_shared_page_has_its_share_sheet(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop, TITLE)
    shop_path = f"/s/{merchant.shop.slug}"
    request_path = f"{shop_path}/pay/{await payment_request(client, merchant)}"
    for path in (shop_path, f"{shop_path}/p/{product.id}", request_path):
        page = (await client.get(path)).text
        sheet = re.search(r'<details class="card share-sheet">.*?</details>', page, re.S)
        assert sheet, path
        assert f'value="http://testserver{path}"' in sheet[0]
        qr = f"/qr.svg?{urlencode({'link': f'http://testserver{path}'})}"
        assert f'src="{escape(qr)}" loading="lazy"' in sheet[0]
        assert f'href="{path}/poster.png"' in sheet[0]
        # Its chat card, for apps that read tags: Open Graph and Twitter's.
        assert f'<meta property="og:url" content="http://testserver{path}">' in page
        assert re.search(r'<meta name="twitter:card" content="summary(_large_image)?">', page)
        assert re.search(r'<meta name="twitter:title" content="[^"]+">', page)


async def test_old_posters_and_crashed_parts_are_pruned(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    assert (await client.get(f"/s/{merchant.shop.slug}/poster.png")).status_code == 200
    folder = settings.media_path / "posters"
    [drawn] = list(folder.iterdir())
    crashed = folder / "0123.abcd.part"
    crashed.write_bytes(b"half a poster")
    now = clock.now()
    assert posters.prune(settings, now) == 0  # both fresh
    hours = now + timedelta(hours=2)
    assert posters.prune(settings, hours) == 1  # the crash's part
    assert drawn.exists()
    assert not crashed.exists()
    assert posters.prune(settings, now + posters.KEEP + timedelta(minutes=1)) == 1
    assert not drawn.exists()
    # Shared again: drawn again.
    assert (await client.get(f"/s/{merchant.shop.slug}/poster.png")).status_code == 200
    assert drawn.exists()


async def test_the_share_sheets_qr_code_is_drawn_for_this_sites_links_only(
    client: httpx.AsyncClient,
) -> None:
    link = "http://testserver/s/some-shop/p/0123?from=abc"
    answer = await client.get("/qr.svg", params={"link": link})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert "immutable" in answer.headers["cache-control"]
    svg = ElementTree.fromstring(answer.content)  # noqa: S314 -- our own answer
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("{http://www.w3.org/2000/svg}path") is not None
    other = await client.get("/qr.svg", params={"link": "https://thief.example/s/some-shop"})
    assert other.status_code == 404
    assert tr("Only this shop's links have a QR code here.") in other.text
    # A look-alike host, no link, a link longer than a page's: none either.
    for params in ({"link": "http://testserver.thief.example/"}, {}):
        assert (await client.get("/qr.svg", params=params)).status_code == 404
    long = await client.get("/qr.svg", params={"link": "http://testserver/" + "a" * 600})
    assert long.status_code == 422
