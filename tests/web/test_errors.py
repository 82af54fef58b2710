"""Errors answer in the envelope on the API and as a friendly page elsewhere; no stack traces."""

import httpx
from fastapi import FastAPI

from pocketshop.app import create_app
from pocketshop.config import Environment, Settings
from tests.conftest import BASE_URL


async def test_unknown_api_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]


async def test_unknown_page_is_friendly_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/no-such-shop")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "404" in response.text
    assert 'href="/"' in response.text


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/banks")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_validation_error_lists_fields_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/auth/sms-codes", json={"phone": 1, "price": 1})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {detail["field"] for detail in error["details"]} == {"phone", "price"}


async def test_unhandled_error_is_500_without_trace(settings: Settings) -> None:
    app: FastAPI = create_app(settings)

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/boom")
    async def boom_page() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        api = await client.get("/api/v1/boom")
        page = await client.get("/boom")
    await app.state.db.dispose()
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in api.text
    assert page.status_code == 500
    assert "secret internals" not in page.text
    assert "Traceback" not in page.text


async def test_dev_inbox_is_hidden_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"env": Environment.production})
    app = create_app(production)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        assert (await client.get("/dev/sms")).status_code == 404
    await app.state.db.dispose()
