"""The request boundary: body limits, the write lock, client addresses; the routes' order."""

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route

from pocketshop.config import Settings
from pocketshop.web.routing import client_ip, page_router

SEND = "/api/v1/auth/sms-codes"


async def test_a_slow_upload_does_not_hold_up_other_writes(client: httpx.AsyncClient) -> None:
    gate = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"phone": '
        await gate.wait()
        yield b'"13800138000"}'

    slow = asyncio.create_task(
        client.post(SEND, content=trickle(), headers={"content-type": "application/json"})
    )
    await asyncio.sleep(0.05)
    fast = await asyncio.wait_for(client.post(SEND, json={"phone": "13900139000"}), timeout=5)
    assert fast.status_code == 202
    gate.set()
    assert (await slow).status_code == 202


async def test_too_large_bodies_are_refused_before_parsing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    big = b"x" * (settings.max_request_bytes + 1)
    api = await client.post("/api/v1/onboarding/shop", files={"logo": ("a.png", big, "image/png")})
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "too_large"
    page = await client.post("/login/code", content=big, headers={"content-length": str(len(big))})
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")


async def test_malformed_slugs_are_not_found(client: httpx.AsyncClient) -> None:
    for path in ("/s/a%00b", "/s/a%00b/qr.png", "/api/v1/shops/a%00", "/s/UPPER", "/s/" + "a" * 49):
        response = await client.get(path)
        assert response.status_code == 404, path


def request_from(host: str) -> Request:
    return Request({"type": "http", "client": (host, 1234), "headers": []})


def test_client_ip_groups_ipv6_by_64() -> None:
    assert client_ip(request_from("203.0.113.9")) == "203.0.113.9"
    first = client_ip(request_from("2001:db8:1:2:aaaa::1"))
    second = client_ip(request_from("2001:db8:1:2:bbbb::2"))
    assert first == second == "2001:db8:1:2::/64"
    assert client_ip(request_from("2001:db8:1:3::1")) != first


def routes_in_order(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes in the order they are tried: FastAPI keeps each included router's
    routes behind an object of its own (`original_router`)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from routes_in_order(inner.routes)
        else:
            yield route


def test_no_route_is_hidden_by_one_tried_before_it(app: FastAPI) -> None:
    """The routers are included busiest first (app.py); an order that let a route answer
    another's address (`/x/{id}` before `/x/new`) would be a bug this finds."""
    ordered = [route for route in routes_in_order(app.router.routes) if isinstance(route, Route)]
    assert len(ordered) > 200
    hidden = []
    for index, route in enumerate(ordered):
        sample = re.sub(r"\{[^}]+\}", "x1", route.path)
        for method in sorted(route.methods or {"GET"}):
            scope = {"type": "http", "method": method, "path": sample, "root_path": ""}
            for earlier in ordered[:index]:
                if earlier.matches(scope)[0] is Match.FULL:
                    hidden.append(f"{method} {route.path} answered by {earlier.path}")
                    break
    assert hidden == []


async def test_a_router_of_routes_that_only_read_takes_none_that_writes() -> None:
    """Such routes run without a transaction on PostgreSQL (Database.reading): a POST there
    would lose its all or nothing, so the app does not start with one."""
    router = page_router(reads_only=True)

    async def change() -> None:
        pass

    router.add_api_route("/read", change, methods=["GET", "HEAD"])
    with pytest.raises(TypeError, match="/write changes things"):
        router.add_api_route("/write", change, methods=["POST"])


async def test_the_storefront_and_the_public_catalog_only_read(app: FastAPI) -> None:
    reading = {
        (method, route.path)
        for route in routes_in_order(app.router.routes)
        if isinstance(route, APIRoute) and getattr(route, "reads_only", False)
        for method in route.methods
    }
    assert reading == {
        (method, path)
        for method in ("GET", "HEAD")
        for path in ("/s/{slug}", "/s/{slug}/p/{product_id}")
    } | {
        ("GET", f"/api/v1{path}")
        for path in ("/categories", "/shops/{slug}/products", "/shops/{slug}/products/{product_id}")
    }
