"""Text as people type it: emoji sequences survive cleaning whole, invisible controls that
reorder or hide text are dropped, names are NFC, and limits count what a person sees."""

import httpx
import pytest
from fastapi import FastAPI

from pocketshop.text import characters, clean_line, too_long
from tests.commerce import ADDRESS, make_buyer, make_merchant, make_product
from tests.support import api_error

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # four emoji joined by three zero-width joiners
SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # tag sequence
KEYCAP = "1\ufe0f\u20e3"
RAINBOW_FLAG = "🏳\ufe0f\u200d🌈"


@pytest.mark.parametrize(
    "text", [FAMILY, SCOTLAND, KEYCAP, RAINBOW_FLAG, "🇨🇳", "👍🏽", "葛\U000e0100"]
)
def test_emoji_and_variation_sequences_survive_as_one_character(text: str) -> None:
    assert clean_line(text) == text
    assert characters(text) == 1


def test_joiners_of_scripts_are_kept() -> None:
    # Devanagari half forms and Persian word shapes are spelled with ZWJ / ZWNJ.
    for word in ("क्\u200dष", "می\u200cخواهم"):
        assert clean_line(word) == word


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override
        ("\u2067abc\u2069 d", "abc d"),  # isolates
        ("\u200fname\u200e", "name"),  # right-to-left and left-to-right marks
        ("\u061cعربي", "عربي"),  # Arabic letter mark
        ("a \x00 b\x07", "a b"),  # controls
        ("zero\u200bwidth\ufeff", "zerowidth"),  # zero-width space, byte-order mark
        ("x\U000e0041\U000e0042y", "xy"),  # tag letters outside a flag: hidden ASCII
        ("  many   spaces\t\n", "many spaces"),
    ],
)
def test_invisible_controls_are_dropped(typed: str, kept: str) -> None:
    assert clean_line(typed) == kept


def test_names_are_composed_to_nfc() -> None:
    assert clean_line("Cafe\u0301") == "Café"
    assert len(clean_line("Cafe\u0301")) == 4


def test_limits_count_characters_as_seen_with_a_code_point_cap() -> None:
    assert characters(FAMILY * 3 + "家") == 4
    assert not too_long(FAMILY * 30, 60)  # 30 characters, 210 code points
    assert too_long("家" * 61, 60)
    assert too_long(FAMILY * 35, 60)  # 35 characters but 245 code points: over 4 per character


async def test_a_product_titled_in_emoji_keeps_its_joiners(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    title = f"{FAMILY} 亲子装 " * 10  # 59 characters as seen (60 allowed), 119 code points
    body = {"title": title, "skus": [{"price": 100, "stock": 1}]}
    made = await client.post("/api/v1/me/shop/products", json=body, headers=merchant.auth)
    assert made.status_code == 201, made.text
    stored = await client.get(
        f"/api/v1/me/shop/products/{made.json()['id']}", headers=merchant.auth
    )
    assert stored.json()["title"] == title.strip()
    assert stored.json()["title"].count("\u200d") == 30

    too_long_title = {"title": "家" * 61, "skus": [{"price": 100, "stock": 1}]}
    refused = await client.post(
        "/api/v1/me/shop/products", json=too_long_title, headers=merchant.auth
    )
    api_error(refused, 422, "title_too_long")


async def test_a_group_and_an_address_lose_their_bidi_controls(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    group = await client.post(
        "/api/v1/me/shop/groups", json={"name": "\u202e新品\u202c"}, headers=merchant.auth
    )
    assert group.status_code == 201, group.text
    assert group.json()["name"] == "新品"

    product = await make_product(app, merchant.shop)
    address = ADDRESS | {"recipient": f"\u2066李雷\u2069 {FAMILY}", "detail": "文三路\u200f 90 号"}
    buyer = await make_buyer(app)
    order = await client.post(
        "/api/v1/orders",
        json={
            "shop": merchant.shop.slug,
            "lines": [{"sku_id": product.skus[0].public_id, "quantity": 1}],
            "address": address,
        },
        headers=buyer.auth,
    )
    assert order.status_code == 201, order.text
    assert order.json()["recipient"] == f"李雷 {FAMILY}"
    assert "\u200f" not in order.json()["address"]
