"""Shared by the contract test and scripts/contract-fuzz: a shop with products and a buyer
made through the API itself (inside schemathesis's event loop, where the app runs), and the
token each operation is called with."""

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis import BaseSchema
from schemathesis.python.asgi import ASGIClient

from pocketshop.accounts.sms import ConsoleSmsSender
from pocketshop.text import clean_line, too_long
from pocketshop.web.contract import PHONE_FORMAT, TEXT_FORMAT
from tests.commerce import ADDRESS
from tests.support import card_number, csrf_from, id_number_aged, image_bytes

_phones = itertools.count(13600000000)
PRICE = 1990  # fen; the shop ships for free, so an order of one is this much


@dataclass
class Cast:
    """Who calls the API in a contract run, and what exists for them to call it on."""

    merchant: dict[str, str]
    buyer: dict[str, str]
    shop_slug: str
    product_id: str
    sku_id: str

    def auth_for(self, path: str) -> dict[str, str]:
        """The merchant on the shop's own routes and onboarding, the buyer elsewhere."""
        merchant = path.startswith(("/api/v1/me/shop", "/api/v1/onboarding"))
        return self.merchant if merchant else self.buyer


def _login(client: ASGIClient, app: FastAPI) -> dict[str, str]:
    phone = f"+86{next(_phones)}"
    sent = client.post("/api/v1/auth/sms-codes", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    sender = app.state.sms
    assert isinstance(sender, ConsoleSmsSender)
    text = next(m.text for m in reversed(sender.sent) if m.phone == phone)
    code = re.search(r"\b(\d{6})\b", text)
    assert code
    token = client.post("/api/v1/auth/tokens", json={"phone": phone, "code": code.group(1)})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def cast(app: FastAPI) -> Cast:
    with ASGIClient(app) as client:
        merchant = _login(client, app)
        steps = [
            (
                "/api/v1/onboarding/identity",
                {"real_name": "王小明", "id_number": id_number_aged(30)},
            ),
            (
                "/api/v1/onboarding/bank-card",
                {"holder_name": "王小明", "card_number": card_number(), "bank": "ICBC"},
            ),
        ]
        for path, body in steps:
            done = client.post(path, json=body, headers=merchant)
            assert done.status_code == 200, done.text
        shop = client.post("/api/v1/onboarding/shop", data={"name": "契约小店"}, headers=merchant)
        assert shop.status_code == 201, shop.text
        product = client.post(
            "/api/v1/me/shop/products",
            json={"title": "帆布包", "skus": [{"price": PRICE, "stock": 1000}]},
            headers=merchant,
        )
        assert product.status_code == 201, product.text
        photo = client.post(  # on sale only with a photo
            f"/api/v1/me/shop/products/{product.json()['id']}/images",
            files=[("images", ("p.png", image_bytes(), "image/png"))],
            headers=merchant,
        )
        assert photo.status_code == 201, photo.text
        published = client.put(
            f"/api/v1/me/shop/products/{product.json()['id']}/status",
            json={"status": "on_sale"},
            headers=merchant,
        )
        assert published.status_code == 200, published.text
        buyer = _login(client, app)
        saved = client.post("/api/v1/me/addresses", json=ADDRESS, headers=buyer)
        assert saved.status_code == 201, saved.text
        return Cast(
            merchant=merchant,
            buyer=buyer,
            shop_slug=shop.json()["slug"],
            product_id=product.json()["id"],
            sku_id=product.json()["skus"][0]["id"],
        )


def pay_in_sandbox(app: FastAPI, buyer: dict[str, str], started: dict[str, Any]) -> None:
    """What the buyer does after `POST /orders/{number}/payments` through the sandbox: open
    the hosted page `next` leads to, press Pay, and come back (our refresh asks the
    provider), so the payment is paid when the call returns."""
    with ASGIClient(app) as client:
        page = client.get(started["next"]["redirect_url"])
        assert page.status_code == 200, page.text
        pressed = client.post(
            f"{started['next']['redirect_url']}/pay",
            data={"csrf_token": csrf_from(page.text)},
            allow_redirects=False,
        )
        assert pressed.status_code == 303, pressed.text
        refreshed = client.post(
            f"/api/v1/payments/{started['payment']['id']}/refresh", headers=buyer
        )
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["status"] == "paid", refreshed.text


def _text_strategy(limit: int) -> st.SearchStrategy[str]:
    """Texts the service takes as they are: printable, at most `limit` characters as seen;
    and the texts at the edges of the code-point cap (generators look for those lengths and
    cannot steer a custom format to them): exactly at it, one below, and one over (the last
    for invalid requests only: it breaks maxLength)."""
    letters = st.characters(categories=["L", "M", "N", "P", "S"])
    pieces = st.one_of(letters, letters, st.just(" "), st.sampled_from(EMOJI))
    typed = (
        st.lists(pieces, min_size=1, max_size=limit)
        .map("".join)
        .filter(lambda value: bool(clean_line(value)) and not too_long(clean_line(value), limit))
    )
    at_cap = FOUR_CODE_POINTS * limit
    edges = [at_cap, FOUR_CODE_POINTS * (limit - 1) + KEYCAP, at_cap + "a", "家", "家家"]
    return st.one_of(typed, st.sampled_from(edges))


FOUR_CODE_POINTS = "🏳\ufe0f\u200d🌈"  # the rainbow flag: one character, four code points
KEYCAP = "1\ufe0f\u20e3"  # one character, three code points
EMOJI = ["👩\u200d👩\u200d👧\u200d👦", "🇨🇳", KEYCAP, "👍🏽", FOUR_CODE_POINTS, "家", "é"]
PHONES = st.one_of(
    st.builds(
        lambda prefix, rest, style: style.format(f"{prefix}{rest:08d}"),
        st.sampled_from(["138", "139", "150", "186", "177", "199"]),
        st.integers(0, 99_999_999),
        st.sampled_from(["{}", "+86{}", "+86 {}"]),
    ),
    # At the 32-character cap, and one over it (for invalid requests).
    st.sampled_from(["+86 1 3 8 0 0 1 3 8 0 0 0".ljust(32), "1" * 33]),
)


def register_formats(schema: BaseSchema) -> None:
    """Strategies for the API's own string formats (pocketshop.web.contract)."""
    limits = set(re.findall(r'"format": "text-(\d+)"', json.dumps(schema.raw_schema)))
    for limit in limits:
        schemathesis.openapi.format(TEXT_FORMAT.format(limit=limit), _text_strategy(int(limit)))
    schemathesis.openapi.format(PHONE_FORMAT, PHONES)
