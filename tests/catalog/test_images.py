"""Product photos: only real images, not too large, at most 9; stored upright, without EXIF
(GPS positions of the merchant's home), with a thumbnail; a refused batch writes no file."""

import asyncio
import io
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from pocketshop import media
from pocketshop.catalog import photos
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductStatus
from pocketshop.config import Settings
from pocketshop.db import Database
from tests.commerce import (
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    place_order,
    row_counts,
)
from tests.support import api_error, image_bytes, media_files

MAX_BYTES = 300_000
MAX_PIXELS = 3000 * 3000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small limits, so the too-large cases need no megabytes of test data."""
    return settings.model_copy(
        update={"product_image_max_bytes": MAX_BYTES, "product_image_max_pixels": MAX_PIXELS}
    )


def phone_photo() -> bytes:
    """A landscape JPEG a phone held upright would write: orientation 6 and a GPS fix.
    Left half red, right half blue, so the turn can be checked."""
    picture = Image.new("RGB", (300, 100), "red")
    picture.paste((0, 0, 255), (150, 0, 300, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)})
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    return out.getvalue()


def files(*items: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", item) for item in items]


async def upload(
    client: httpx.AsyncClient, merchant: Merchant, product_id: str, *items: tuple[str, bytes, str]
) -> httpx.Response:
    return await client.post(
        f"/api/v1/me/shop/products/{product_id}/images",
        files=files(*items),
        headers=merchant.auth,
    )


def stored(settings: Settings, url: str) -> Path:
    assert url.startswith("/media/")
    return settings.media_path / url.removeprefix("/media/")


async def test_photo_is_upright_without_exif_with_thumbnail(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    photo = phone_photo()
    assert b"PhoneMaker" in photo
    response = await upload(client, merchant, made.id, ("phone.jpg", photo, "image/jpeg"))
    assert response.status_code == 201, response.text
    [image] = response.json()["images"]
    assert (image["width"], image["height"]) == (100, 300)

    full_bytes = stored(settings, image["url"]).read_bytes()
    assert b"PhoneMaker" not in full_bytes
    with Image.open(io.BytesIO(full_bytes)) as full:
        assert full.format == "JPEG"
        assert full.size == (100, 300)
        assert dict(full.getexif()) == {}
        assert full.getexif().get_ifd(0x8825) == {}
        top = full.convert("RGB").getpixel((50, 20))
        bottom = full.convert("RGB").getpixel((50, 280))
    # What was on the left (red) is now on top; the right (blue) at the bottom.
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert (top[0] > 200, top[2] < 60) == (True, True), top
    assert (bottom[0] < 60, bottom[2] > 200) == (True, True), bottom
    with Image.open(stored(settings, image["thumb_url"])) as thumb:
        assert thumb.size == (100, 300)  # already within the thumbnail size
        assert dict(thumb.getexif()) == {}


async def test_big_photo_is_scaled_and_thumbnailed(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    big = image_bytes("PNG", (2400, 1200))
    response = await upload(client, merchant, made.id, ("big.png", big, "image/png"))
    assert response.status_code == 201, response.text
    [image] = response.json()["images"]
    assert (image["width"], image["height"]) == (1200, 600)
    with Image.open(stored(settings, image["thumb_url"])) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (400, 200))
    listed = await client.get("/api/v1/me/shop/products", headers=merchant.auth)
    assert listed.json()["items"][0]["cover_url"] == image["thumb_url"]


async def test_transparent_png_is_flattened_onto_white(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    out = io.BytesIO()
    Image.new("RGBA", (40, 40), (255, 0, 0, 0)).save(out, "PNG")
    response = await upload(client, merchant, made.id, ("clear.png", out.getvalue(), "image/png"))
    assert response.status_code == 201, response.text
    with Image.open(stored(settings, response.json()["images"][0]["url"])) as full:
        pixel = full.convert("RGB").getpixel((20, 20))
    assert isinstance(pixel, tuple)
    assert min(pixel) > 240


async def test_bad_uploads_write_nothing(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    good = ("ok.png", image_bytes(), "image/png")
    noise = ("noise.png", _noisy_png(MAX_BYTES + 1), "image/png")
    huge = ("huge.png", image_bytes("PNG", (3001, 3000)), "image/png")
    cases: list[tuple[str, list[tuple[str, bytes, str]], str]] = [
        ("text", [("a.png", b"not an image at all", "image/png")], "invalid_image"),
        ("empty", [("a.png", b"", "image/png")], "invalid_image"),
        (
            "pdf",
            [("a.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "image/jpeg")],
            "invalid_image",
        ),
        ("truncated", [("a.png", image_bytes()[:60], "image/png")], "invalid_image"),
        ("bmp", [("a.bmp", image_bytes("BMP"), "image/bmp")], "invalid_image"),
        ("svg", [("a.svg", b"<svg onload=alert(1)></svg>", "image/svg+xml")], "invalid_image"),
        ("too many bytes", [noise], "image_too_large"),
        ("too many pixels", [huge], "image_too_large"),
        ("good then bad", [good, good, ("bad.png", b"nope", "image/png")], "invalid_image"),
        ("ten at once", [good] * 10, "too_many_images"),
    ]
    before = await row_counts(app)
    files_before = media_files(settings)
    for name, items, code in cases:
        response = await upload(client, merchant, made.id, *items)
        assert response.status_code == 422, (name, response.text)
        api_error(response, 422, code)
    assert await row_counts(app) == before
    assert media_files(settings) == files_before

    nine = await upload(client, merchant, made.id, *[good] * 9)
    assert nine.status_code == 201, nine.text
    assert len(nine.json()["images"]) == 9
    written = media_files(settings)
    assert len(written) == len(files_before) + 18  # a photo and its thumbnail each
    api_error(await upload(client, merchant, made.id, good), 422, "too_many_images")
    assert media_files(settings) == written


async def test_cover_follows_the_first_photo(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    response = await upload(
        client,
        merchant,
        made.id,
        ("a.png", image_bytes(), "image/png"),
        ("b.png", image_bytes("PNG", (80, 40)), "image/png"),
    )
    first, second = response.json()["images"]
    published = await client.put(
        f"/api/v1/me/shop/products/{made.id}/status",
        json={"status": "on_sale"},
        headers=merchant.auth,
    )
    assert published.status_code == 200, published.text
    public = f"/api/v1/shops/{merchant.shop.slug}/products"
    assert (await client.get(public)).json()["items"][0]["cover_url"] == first["thumb_url"]
    removed = await client.delete(
        f"/api/v1/me/shop/products/{made.id}/images/{first['id']}", headers=merchant.auth
    )
    assert removed.status_code == 204
    assert (await client.get(public)).json()["items"][0]["cover_url"] == second["thumb_url"]
    api_error(
        await client.delete(
            f"/api/v1/me/shop/products/{made.id}/images/{first['id']}", headers=merchant.auth
        ),
        404,
        "image_not_found",
    )


def _noisy_png(at_least: int) -> bytes:
    """Random pixels do not compress: a real PNG of at least this many bytes."""
    side = 200
    while True:
        picture = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        picture.save(out, "PNG")
        if len(out.getvalue()) >= at_least:
            return out.getvalue()
        side += 100


async def test_uploads_at_once_stay_within_9_photos(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    good = ("ok.png", image_bytes(), "image/png")
    responses = await asyncio.gather(
        *(upload(client, merchant, made.id, *[good] * 5) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 422]
    loser = next(r for r in responses if r.status_code == 422)
    api_error(loser, 422, "too_many_images")
    counts = await row_counts(app)
    assert counts["product_images"] == 5
    assert len(media_files(settings)) == 10  # the refused upload's files are gone


async def test_photos_are_decoded_with_no_transaction_open(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While nine big photos decode (here: one held up on purpose), the upload holds no
    connection and, on SQLite, not the write lock: a buyer's checkout goes through meanwhile."""
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop)
    buyer = await make_buyer(app)
    decoding, go_on = threading.Event(), threading.Event()
    real = photos.process

    def held_up(settings: Settings, data: bytes) -> photos.ProcessedPhoto:
        decoding.set()
        go_on.wait(10)
        return real(settings, data)

    monkeypatch.setattr(photos, "process", held_up)
    uploading = asyncio.create_task(
        upload(client, merchant, made.id, ("ok.png", image_bytes(), "image/png"))
    )
    assert await asyncio.to_thread(decoding.wait, 10)
    db: Database = app.state.db
    assert not db.write_lock.locked()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    placed = await asyncio.wait_for(
        place_order(client, buyer, merchant.shop, [(made.skus[0], 1)]), 5
    )
    assert placed.status_code == 201, placed.text
    go_on.set()
    assert (await uploading).status_code == 201


async def test_files_a_crash_left_behind_are_kept_if_named_and_removed_if_not(
    app: FastAPI, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    prepared = await photos.prepare(settings, [image_bytes()])
    files = media.Files(settings)
    named = photos.stage(files, prepared[0])  # its transaction committed, then a crash
    db: Database = app.state.db
    async with db.transaction() as session:
        await catalog.add_images(session, merchant.shop, made.id, [named])
    orphan = photos.stage(files, prepared[0])  # its transaction never committed
    parts = [settings.media_path / f"{key}{media.PART}" for key in files.keys]
    assert all(part.exists() for part in parts)
    await app.state.runtime.tidy_media()
    assert all(part.exists() for part in parts)  # too recent: the request may be under way
    hours_ago = time.time() - 2 * 3600
    for part in parts:
        os.utime(part, (hours_ago, hours_ago))
    await app.state.runtime.tidy_media()
    assert not any(part.exists() for part in parts)
    assert (settings.media_path / named.key).exists()
    assert (settings.media_path / named.thumb_key).exists()
    assert not (settings.media_path / orphan.key).exists()
    assert not (settings.media_path / orphan.thumb_key).exists()
