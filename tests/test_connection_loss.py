"""PostgreSQL backends killed under load (`pg_terminate_backend`): every answer is a success
or a 503 with Retry-After, never a 500; a retry with the same Idempotency-Key places the order
once; the pool recovers by itself."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from pocketshop.app import create_app
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders.models import Order
from tests.commerce import Buyer, make_buyer, make_merchant, make_product, order_json, stock_of
from tests.conftest import BASE_URL, is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="backends terminated on PostgreSQL")

BUYERS = 40
STOCK = 1000


async def terminate_backends(url: str, rounds: int, pause: float) -> int:
    """Kill every other backend of the test database, `rounds` times: what an operator's
    restart or a failover does to open connections."""
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    killed = 0
    try:
        for _ in range(rounds):
            await asyncio.sleep(pause)
            killed += len(
                await admin.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    parsed.database,
                )
            )
    finally:
        await admin.close()
    return killed


async def place(
    client: httpx.AsyncClient, buyer: Buyer, body: dict[str, object], key: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/orders", json=body, headers=buyer.auth | {"Idempotency-Key": key}
    )


def unavailable(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.headers.get("retry-after", "").isdigit()
        and response.json()["error"]["code"] == "database_unavailable"
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """As a real server would: an error the app lets out is answered 500, not raised here."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


async def test_killed_connections_answer_503_and_a_retry_places_the_order_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    db: Database = app.state.db
    merchant = await make_merchant(app)
    # A product each: orders of one SKU would queue on its row and all be cut off together.
    skus = [(await make_product(app, merchant.shop, stock=STOCK)).skus[0] for _ in range(BUYERS)]
    buyers = [await make_buyer(app) for _ in range(BUYERS)]
    bodies = [order_json(merchant.shop, [(sku, 1)]) for sku in skus]

    keys = [f"order-{index}" for index in range(BUYERS)]
    orders = list(zip(buyers, bodies, keys, strict=True))
    first, second = orders[: BUYERS // 2], orders[BUYERS // 2 :]

    # The first half is placed while every backend is killed, twice.
    killer = asyncio.create_task(terminate_backends(settings.database_url, 2, 0.05))
    answers = await asyncio.gather(*(place(client, *order) for order in first))
    assert await killer > 0
    assert all(a.status_code == 201 or unavailable(a) for a in answers), [
        a.text for a in answers if a.status_code != 201
    ][:3]

    # The pool recovered by itself: the second half is placed without a fault.
    after = await asyncio.gather(*(place(client, *order) for order in second))
    assert [answer.status_code for answer in after] == [201] * len(second)

    # The clients of the first half try again with the same key: every order is there once.
    for order, answer in zip(first, answers, strict=True):
        retried = await place(client, *order)
        assert retried.status_code in (200, 201), retried.text
        if answer.status_code == 201:
            assert retried.json()["number"] == answer.json()["number"]
    async with db.transaction(write=False) as session:
        placed = await session.scalar(select(func.count()).select_from(Order))
    assert placed == BUYERS
    assert [await stock_of(app, sku.id) for sku in skus] == [STOCK - 1] * BUYERS


async def test_the_pool_recovers_by_itself(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    buyer = await make_buyer(app)
    # Several pooled connections, then all of them killed while idle.
    warm = await asyncio.gather(
        *(client.get("/api/v1/orders", headers=buyer.auth) for _ in range(8))
    )
    assert {answer.status_code for answer in warm} == {200}
    assert await terminate_backends(settings.database_url, 1, 0) > 0

    first = await client.get("/api/v1/orders", headers=buyer.auth)
    assert first.status_code == 200 or unavailable(first), first.text
    after = [await client.get("/api/v1/orders", headers=buyer.auth) for _ in range(20)]
    assert [answer.status_code for answer in after] == [200] * 20


async def test_a_server_refusing_more_connections_answers_503(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """PostgreSQL at its connection limit ("sorry, too many clients already", 53300; here a
    role's limit, on a busy server max_connections) refuses a new connection: the request is
    answered 503 with Retry-After, not 500, and is served once a connection frees up."""
    merchant = await make_merchant(app)
    parsed = make_url(settings.database_url)
    role = "pocketshop_capped"
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    await admin.execute(f"DROP ROLE IF EXISTS {role}")
    await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1")
    try:
        await admin.execute(f"GRANT pg_read_all_data TO {role}")
        capped = settings.model_copy(
            update={"database_url": parsed.set(username=role).render_as_string(False)}
        )
        held = await asyncpg.connect(
            host=parsed.host, port=parsed.port or 5432, user=role, database=parsed.database
        )
        shop_page = f"/api/v1/shops/{merchant.shop.slug}"
        capped_app = create_app(capped)
        transport = httpx.ASGITransport(app=capped_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as capped_client:
            refused = await capped_client.get(shop_page)
            assert unavailable(refused), refused.text
            await held.close()
            served = await capped_client.get(shop_page)
            assert served.status_code == 200, served.text
        await capped_app.state.runtime.close()
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
