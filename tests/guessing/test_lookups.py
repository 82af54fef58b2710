"""Guessing is not free: lookups by order, payment or payment-request number that find
nothing are counted per user and per IP in the database (so every server process sees them),
and past the limit every such lookup waits: 429 with Retry-After. A buyer opening their own
order again and again is never held up. A buyer on a merchant's route is told 403."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select

from pocketshop import clock, jobs
from pocketshop.app import create_app
from pocketshop.cache import NotifyListener
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.guessing.deps import limit_misses
from pocketshop.guessing.models import LookupMiss
from tests.commerce import (
    make_buyer,
    make_merchant,
    one_sku_and_buyer,
    ordered,
    sweep,
    web_login,
)
from tests.conftest import is_postgres
from tests.support import api_error, statements_run
from tests.test_cache import eventually

PER_USER, PER_IP = 3, 5
GUESSES = [f"20261204{n:012d}" for n in range(12)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"lookup_misses_per_user": PER_USER, "lookup_misses_per_ip": PER_IP}
    )


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def miss_rows(app: FastAPI) -> int:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(LookupMiss)) or 0)


def assert_waits(response: httpx.Response) -> None:
    api_error(response, 429, "too_many_misses")
    assert 0 < int(response.headers["Retry-After"]) <= 600


async def test_a_users_misses_are_limited_and_then_even_their_hits_wait(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    for guess in GUESSES[:PER_USER]:
        api_error(
            await client.get(f"/api/v1/orders/{guess}", headers=buyer.auth), 404, "order_not_found"
        )
    # The next guess waits; so does a hit, or it would give the number away.
    assert_waits(await client.get(f"/api/v1/orders/{GUESSES[PER_USER]}", headers=buyer.auth))
    assert_waits(await client.get(f"/api/v1/orders/{number}", headers=buyer.auth))
    assert_waits(await client.get(f"/api/v1/orders/{number}/receipt", headers=buyer.auth))
    # Another buyer at the same address is not held up (the address has misses to spare).
    other = await make_buyer(app)
    api_error(
        await client.get(f"/api/v1/orders/{number}", headers=other.auth), 404, "order_not_found"
    )
    # After the window, the buyer may look again.
    clock.advance(timedelta(seconds=600))
    assert (await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)).status_code == 200


async def test_a_buyer_refreshing_their_own_order_is_never_held_up(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await web_login(app, client, buyer.user)
    for _ in range(PER_IP * 4):
        assert (await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)).is_success
        assert (await client.get(f"/me/orders/{number}")).status_code == 200
    assert await miss_rows(app) == 0


async def test_an_address_is_limited_across_users_logged_in_or_not(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    slug = merchant.shop.slug
    for guess in GUESSES[:PER_IP]:  # nobody logged in: counted against the address alone
        api_error(
            await client.get(f"/api/v1/shops/{slug}/payment-requests/{guess}"),
            404,
            "payment_request_not_found",
        )
    assert_waits(await client.get(f"/api/v1/shops/{slug}/payment-requests/{GUESSES[0]}"))
    fresh = await make_buyer(app)  # no misses of their own, but the address has none left
    assert_waits(await client.get(f"/api/v1/orders/{GUESSES[0]}", headers=fresh.auth))
    # The pages count the same misses.
    page = await client.get(f"/s/{slug}/pay/{GUESSES[0]}")
    assert page.status_code == 429
    assert "text/html" in page.headers["content-type"]
    assert int(page.headers["Retry-After"]) > 0
    # Another address is not held up; an IPv6 address counts by its /64.
    async with from_address(app, "2001:db8:1:2::10") as first:
        for guess in GUESSES[:PER_IP]:
            answer = await first.get(f"/s/{slug}/pay/{guess}")
            assert answer.status_code == 404
    async with from_address(app, "2001:db8:1:2:ffff::99") as same_block:
        assert (await same_block.get(f"/s/{slug}/pay/{GUESSES[0]}")).status_code == 429
    async with from_address(app, "2001:db8:1:3::10") as next_block:
        assert (await next_block.get(f"/s/{slug}/pay/{GUESSES[0]}")).status_code == 404


async def test_merchant_routes_and_payments_count_too(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    buyer = await make_buyer(app)
    for guess in GUESSES[:PER_USER]:
        api_error(
            await client.get(f"/api/v1/me/shop/orders/{guess}", headers=merchant.auth),
            404,
            "order_not_found",
        )
    assert_waits(await client.get("/api/v1/me/shop/orders/" + GUESSES[0], headers=merchant.auth))
    async with from_address(app, "10.0.0.2") as elsewhere:
        for guess in GUESSES[:PER_USER]:
            refreshed = await elsewhere.post(
                f"/api/v1/payments/{guess}/refresh", headers=buyer.auth
            )
            api_error(refreshed, 404, "payment_not_found")
        paying = await elsewhere.post(
            f"/api/v1/orders/{GUESSES[0]}/payments",
            json={"provider": "sandbox", "channel": "page"},
            headers=buyer.auth,
        )
        assert_waits(paying)


async def guess_in_another_process(settings: Settings, auth: dict[str, str]) -> None:
    """Two apps on one database stand for two processes: this one uses up the user's misses."""
    second = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            for guess in GUESSES[:PER_USER]:
                answer = await other.get(f"/api/v1/orders/{guess}", headers=auth)
                api_error(answer, 404, "order_not_found")
    finally:
        await second.state.runtime.close()


async def test_the_counts_hold_for_every_server_process(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Two apps on one database stand for two processes: misses made on one count on the
    other."""
    buyer = await make_buyer(app)
    await guess_in_another_process(settings, buyer.auth)
    assert_waits(await client.get(f"/api/v1/orders/{GUESSES[0]}", headers=buyer.auth))


@pytest.mark.skipif(not is_postgres(), reason="on SQLite one server process: nothing to tell")
async def test_counts_a_process_keeps_go_when_another_counts_a_miss(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """A buyer's counts (none) are read once and kept; misses counted by another process
    drop them there at its commit (NOTIFY), and the next lookup here waits."""
    db: Database = app.state.db
    listening = NotifyListener([db.row_cache], db.url)  # what the app's lifespan starts
    listening.start()
    try:
        await eventually(lambda: db.row_cache.connected)
        await counts_dropped_by_another_process(app, client, settings)
    finally:
        await listening.stop()


async def counts_dropped_by_another_process(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])

    async def look() -> tuple[httpx.Response, list[str]]:
        with statements_run(app.state.db) as seen:
            answer = await client.get(f"/api/v1/orders/{number}", headers=buyer.auth)
        return answer, [statement for statement in seen if "lookup_misses" in statement]

    assert (await look())[0].is_success
    kept, reads = await look()
    assert kept.is_success
    assert reads == []  # kept
    await guess_in_another_process(settings, buyer.auth)
    for _ in range(50):  # the notification arrives within moments
        answer, _reads = await look()
        if answer.status_code == 429:
            break
        await asyncio.sleep(0.1)
    assert_waits(answer)


async def test_ended_windows_are_swept(app: FastAPI, client: httpx.AsyncClient) -> None:
    buyer = await make_buyer(app)
    await client.get(f"/api/v1/orders/{GUESSES[0]}", headers=buyer.auth)
    assert await miss_rows(app) == 2  # the user and the address
    forget = sweep(app, "forget_lookup_misses")
    assert (await jobs.run_sweep(app.state.db, forget)).listed == 0  # the window is current
    clock.advance(timedelta(seconds=600))
    assert (await jobs.run_sweep(app.state.db, forget)).done == 1
    assert await miss_rows(app) == 0


def test_every_lookup_by_number_is_limited(app: FastAPI) -> None:
    """A route with an order, payment or payment-request number in its path counts misses."""
    unguarded = [
        f"{sorted(route.methods)} {route.path}"
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        and any(name in route.path for name in ("{number}", "{payment_id}", "{request_id}"))
        and limit_misses
        not in [dependency.call for dependency in route.original_route.dependant.dependencies]
    ]
    assert unguarded == []


async def test_a_buyer_on_a_merchants_route_is_not_a_merchant(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    buyer = await make_buyer(app)
    for path in ("/api/v1/me/shop", "/api/v1/me/shop/orders", "/api/v1/me/shop/finance"):
        api_error(await client.get(path, headers=buyer.auth), 403, "not_a_merchant")
    await web_login(app, client, buyer.user)
    page = await client.get("/console/orders")
    assert (page.status_code, page.headers["location"]) == (303, "/onboarding")
