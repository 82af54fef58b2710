"""A page drawn in answer to a form post (a refusal shown at its field) puts the form's own
page in the post's place in the history (posted.js), so refresh and Back never post the form
again. The form's page is the Referer: this site's only, its one-time notice left out."""

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.commerce import make_merchant, web_login
from tests.support import csrf_from

SCRIPT = re.compile(r'<script src="/static/posted\.js\?v=[^"]+" data-form-page="([^"]*)"')


async def refused_settings(client: httpx.AsyncClient, referer: str | None) -> httpx.Response:
    page = await client.get("/console/settings")
    headers = {"referer": referer} if referer is not None else {}
    return await client.post(
        "/console/settings",
        data={"csrf_token": csrf_from(page.text), "name": ""},
        files={"logo": ("", b"", "application/octet-stream")},
        headers=headers,
    )


@pytest.mark.parametrize(
    ("referer", "form_page"),
    [
        ("http://testserver/console/settings?done=saved", "/console/settings"),
        ("http://testserver/console/settings?a=1&done=saved&b=2", "/console/settings?a=1&amp;b=2"),
        ("https://evil.example/console/settings", None),
        ("//evil.example/x", None),
        ("", None),
        (None, None),
    ],
)
async def test_a_refused_post_hands_the_history_the_form_page(
    app: FastAPI, client: httpx.AsyncClient, referer: str | None, form_page: str | None
) -> None:
    merchant = await make_merchant(app)
    await web_login(app, client, merchant.user)
    refused = await refused_settings(client, referer)
    assert refused.status_code == 422, refused.text
    found = SCRIPT.search(refused.text)
    assert (found.group(1) if found else None) == form_page


async def test_a_page_fetched_with_get_leaves_the_history_alone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    await web_login(app, client, merchant.user)
    page = await client.get(
        "/console/settings", headers={"referer": "http://testserver/console/settings"}
    )
    assert page.status_code == 200
    assert "posted.js" not in page.text
