"""Stock never oversells and is released exactly once, under real concurrent requests through
the HTTP app (and, on PostgreSQL, two job workers on their own connections)."""

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from pocketshop import clock, jobs
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders import actions
from pocketshop.orders.models import Order, OrderEvent, Shipment
from pocketshop.runtime import build
from tests.commerce import (
    make_buyer,
    make_merchant,
    make_product,
    one_sku_and_buyer,
    order_json,
    order_row,
    ordered,
    pay,
    place_order,
    row_counts,
    run_jobs,
    ship,
    stock_of,
    sweep,
)
from tests.conftest import is_postgres
from tests.support import api_error


async def closed_events(db: Database) -> Counter[int]:
    async with db.transaction(write=False) as session:
        rows = await session.scalars(
            select(OrderEvent.order_id).where(OrderEvent.to_status == "closed")
        )
        return Counter(rows)


async def test_200_buyers_10_in_stock(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "限量手工皮钱包", stock=10)
    sku = made.skus[0]
    buyers = await asyncio.gather(*(make_buyer(app) for _ in range(200)))

    responses = await asyncio.gather(
        *(place_order(client, buyer, merchant.shop, [(sku, 1)]) for buyer in buyers)
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 10, 409: 190}, [r.text for r in responses if r.status_code >= 500]
    for response in responses:
        if response.status_code == 409:
            error = api_error(response, 409, "sold_out")
            assert "限量手工皮钱包" in str(error["message"])
    assert await stock_of(app, sku.id) == 0
    counts = await row_counts(app)
    assert (counts["orders"], counts["order_lines"], counts["order_events"]) == (10, 10, 10)
    winners = {r.json()["number"] for r in responses if r.status_code == 201}
    assert len(winners) == 10


async def test_cancel_racing_the_unpaid_timeout_releases_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, stock=100)
    sku = made.skus[0]
    buyers = [await make_buyer(app) for _ in range(20)]
    numbers = [await ordered(client, buyer, merchant.shop, [(sku, 3)]) for buyer in buyers]
    assert await stock_of(app, sku.id) == 40
    ids = [(await order_row(app, number)).id for number in numbers]
    clock.advance(timedelta(minutes=31))

    async def close_directly(order_id: int) -> bool:
        async with db.transaction() as session:
            return await actions.close_unpaid(session, app.state.settings, order_id)

    results = await asyncio.gather(
        *(
            client.post(f"/api/v1/orders/{number}/cancel", headers=buyer.auth)
            for buyer, number in zip(buyers, numbers, strict=True)
        ),
        *(close_directly(order_id) for order_id in ids),
        jobs.run_sweep(db, sweep(app, "close_unpaid_orders")),
        jobs.run_sweep(db, sweep(app, "close_unpaid_orders")),
    )
    cancels = [r for r in results if isinstance(r, httpx.Response)]
    for response in cancels:
        if response.status_code != 200:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] in {"invalid_transition", "order_changed"}
    assert await stock_of(app, sku.id) == 100
    assert await closed_events(db) == {order_id: 1 for order_id in ids}
    for number in numbers:
        order = await order_row(app, number)
        assert order.status == "closed"
        assert order.close_reason in {"buyer_cancelled", "unpaid_timeout"}

    # Running it all again changes nothing.
    assert await run_jobs(app) == {}
    again = await client.post(f"/api/v1/orders/{numbers[0]}/cancel", headers=buyers[0].auth)
    api_error(again, 409, "invalid_transition")
    assert await stock_of(app, sku.id) == 100


async def test_two_packages_at_once_ship_the_rest_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]})
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(made.sku("红"), 2), (made.sku("蓝"), 1)])
    await pay(app, number)
    responses = await asyncio.gather(
        ship(client, merchant, number, "SF123456789012"),
        ship(client, merchant, number, "SF123456789013"),
    )
    assert sorted(r.status_code for r in responses) in ([201, 404], [201, 409])
    loser = next(r for r in responses if r.status_code != 201)
    # Whoever came second saw the order shipped, or lost the conditional update.
    assert loser.json()["error"]["code"] in {"order_not_shippable", "order_changed"}
    counts = await row_counts(app)
    assert (counts["shipments"], counts["shipment_lines"]) == (1, 2)
    assert sorted(counts["shipped"].values()) == [1, 2]  # type: ignore[union-attr]
    assert (await order_row(app, number)).status == "shipped"


async def test_two_partial_packages_cannot_ship_more_than_bought(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 3)])
    await pay(app, number)
    detail = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
    line_id = detail.json()["lines"][0]["id"]
    responses = await asyncio.gather(
        ship(client, merchant, number, "JT1234567890123", carrier="JT", lines={line_id: 2}),
        ship(client, merchant, number, "JT1234567890124", carrier="JT", lines={line_id: 2}),
    )
    assert sorted(r.status_code for r in responses) in ([201, 409], [201, 422])
    counts = await row_counts(app)
    assert counts["shipments"] == 1
    assert list(counts["shipped"].values()) == [2]  # type: ignore[union-attr]
    assert (await order_row(app, number)).status == "partially_shipped"


@pytest.mark.skipif(not is_postgres(), reason="SQLite runs writing requests one at a time")
@pytest.mark.parametrize(("quantity", "refusal"), [(1, 429), (5, 409)])
async def test_one_buyers_checkouts_at_once_stay_within_the_limits(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, quantity: int, refusal: int
) -> None:
    """Twenty checkouts of one buyer at the same moment, each on its own connection: without
    the buyer's lock each would count the unpaid orders before any other's commit, and all
    would pass."""
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=1000)
    allowed = min(
        settings.max_unpaid_orders_per_shop, settings.max_unpaid_units_per_sku // quantity
    )
    responses = await asyncio.gather(
        *(place_order(client, buyer, merchant.shop, [(sku, quantity)]) for _ in range(20))
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: allowed, refusal: 20 - allowed}, statuses
    counts = await row_counts(app)
    assert (counts["orders"], counts["order_lines"], counts["order_events"]) == (allowed,) * 3
    assert await stock_of(app, sku.id) == 1000 - allowed * quantity


@pytest.mark.skipif(not is_postgres(), reason="SQLite runs writing requests one at a time")
async def test_twin_requests_for_the_last_allowed_order_both_get_it(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """A double submit (one Idempotency-Key) of the order that reaches the limit: the second
    waits for the first, finds its order and replays it, instead of counting it as another."""
    merchant, sku, buyer = await one_sku_and_buyer(app, stock=100)
    for _ in range(settings.max_unpaid_orders_per_shop - 1):
        await ordered(client, buyer, merchant.shop, [(sku, 1)])
    twins = await asyncio.gather(
        *(
            client.post(
                "/api/v1/orders",
                json=order_json(merchant.shop, [(sku, 1)]),
                headers=buyer.auth | {"Idempotency-Key": "double-tap"},
            )
            for _ in range(2)
        )
    )
    assert [twin.status_code for twin in twins] == [201, 201], [twin.text for twin in twins]
    assert twins[0].json()["number"] == twins[1].json()["number"]
    assert (await row_counts(app))["orders"] == settings.max_unpaid_orders_per_shop


@pytest.mark.skipif(not is_postgres(), reason="two worker processes share PostgreSQL only")
async def test_two_workers_close_each_due_order_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant, sku, _buyer = await one_sku_and_buyer(app, stock=100)
    # A buyer each: one may hold only so many unpaid orders in a shop.
    buyers = [await make_buyer(app) for _ in range(30)]
    numbers = [await ordered(client, buyer, merchant.shop, [(sku, 2)]) for buyer in buyers]
    await pay(app, numbers[0])  # paid: not due
    assert await stock_of(app, sku.id) == 40
    clock.advance(timedelta(minutes=31))

    workers = [build(app.state.settings, caching=False) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(jobs.run_due(worker.db, worker.sweeps) for worker in workers)
        )
    finally:
        for worker in workers:
            await worker.close()

    assert sum(result["close_unpaid_orders"] for result in results) == 29
    assert await stock_of(app, sku.id) == 98
    events = await closed_events(db)
    assert len(events) == 29
    assert set(events.values()) == {1}
    async with db.transaction(write=False) as session:
        statuses = Counter(await session.scalars(select(Order.status)))
        packages = await session.scalar(select(func.count()).select_from(Shipment))
    assert statuses == {"closed": 29, "paid": 1}
    assert packages == 0


async def test_last_packages_sent_at_once_finish_the_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Two packages with the two remaining lines, sent at the same moment: whichever ends last
    must see everything shipped, so the order is `shipped` and will auto-confirm."""
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝", "绿"]}, stock=100)
    # A buyer each: one may hold only so many unpaid orders in a shop.
    numbers = [
        await ordered(
            client,
            await make_buyer(app),
            merchant.shop,
            [(made.sku("红"), 1), (made.sku("蓝"), 1), (made.sku("绿"), 1)],
        )
        for _ in range(8)
    ]
    sends = []
    for number in numbers:
        await pay(app, number)
        detail = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
        first, second, third = (line["id"] for line in detail.json()["lines"])
        started = await ship(client, merchant, number, "SF123456789010", lines={first: 1})
        assert started.status_code == 201, started.text
        for line_id, tracking in ((second, "SF123456789011"), (third, "SF123456789012")):
            sends.append(ship(client, merchant, number, tracking, lines={line_id: 1}))
    responses = await asyncio.gather(*sends)
    for response in responses:
        if response.status_code != 201:
            api_error(response, 409, "order_changed")
    for number in numbers:
        order = await order_row(app, number)
        detail = await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)
        shipped = [line["shipped_quantity"] for line in detail.json()["lines"]]
        if shipped == [1, 1, 1]:
            assert order.status == "shipped", number
            assert order.auto_confirm_at is not None
        else:
            assert order.status == "partially_shipped", (number, shipped)


async def test_confirm_racing_the_auto_confirm_completes_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, stock=100)
    buyer = await make_buyer(app)
    numbers = []
    for _ in range(10):
        # Paid at once: a buyer holds only so many unpaid orders in a shop.
        number = await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)])
        await pay(app, number)
        shipped = await ship(client, merchant, number, "SF123456789012")
        assert shipped.status_code == 201, shipped.text
        numbers.append(number)
    clock.advance(timedelta(days=10, minutes=1))
    results = await asyncio.gather(
        *(
            client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth)
            for number in numbers
        ),
        jobs.run_sweep(db, sweep(app, "auto_confirm_receipt")),
        jobs.run_sweep(db, sweep(app, "auto_confirm_receipt")),
    )
    confirmed = [r for r in results if isinstance(r, httpx.Response) and r.status_code == 200]
    swept = sum(r.done for r in results if isinstance(r, jobs.Round))
    for late in (r for r in results if isinstance(r, httpx.Response) and r.status_code != 200):
        assert late.status_code == 409, late.text
    assert len(confirmed) + swept == 10
    async with db.transaction(write=False) as session:
        completions = Counter(
            await session.scalars(
                select(OrderEvent.order_id).where(OrderEvent.to_status == "completed")
            )
        )
    assert len(completions) == 10
    assert set(completions.values()) == {1}
