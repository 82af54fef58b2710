"""Races on one case, or one order's cases, that can fail: on PostgreSQL every request and job
step runs on a connection of its own (the app's pool) at the same moment, many pairs at once.
After each run: exactly one side of each race won and the other was told 409, what each was
told matches what is stored, no case made more than one refund, the order's after-sales flag
matches its cases, and the money adds up (nothing stuck in escrow once every case ended).
On SQLite the embedded server runs writers one at a time: these would prove nothing there."""

from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock, jobs
from pocketshop.aftersales import queries, service
from pocketshop.aftersales.models import AftersalesCase
from pocketshop.db import Database
from pocketshop.ledger import service as ledger
from pocketshop.orders.models import Order
from pocketshop.payments.balances import escrow_of
from pocketshop.payments.models import Refund
from tests.aftersales.cases import (
    RETURN_ADDRESS,
    applied,
    apply,
    as_buyer,
    as_shop,
    confirm_receipt,
    done,
    given_an_address,
    line_ids,
    paid,
    send_back,
    shipped,
)
from tests.commerce import Buyer, Merchant, make_buyer, make_merchant, make_product
from tests.conftest import is_postgres
from tests.payments.invariants import problems
from tests.races import head_start, race, timed

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="SQLite runs writers one at a time: no race to show"
)
PAIRS = 20
PRICE = 9900
LOST = {"invalid_transition", "case_changed"}


async def a_shop(app: FastAPI, **options: Any) -> tuple[Merchant, Any, Buyer]:
    merchant = await make_merchant(app)
    product = await make_product(app, merchant.shop, price=PRICE, stock=1000, **options)
    return merchant, product, await make_buyer(app)


def lost(answer: httpx.Response) -> bool:
    return answer.status_code == 409 and answer.json()["error"]["code"] in LOST


async def cases_by_id(db: Database) -> dict[str, AftersalesCase]:
    async with db.transaction(write=False) as session:
        return {case.public_id: case for case in await session.scalars(select(AftersalesCase))}


async def refunds_per_case(db: Database) -> Counter[str]:
    async with db.transaction(write=False) as session:
        reasons = await session.scalars(select(Refund.reason))
        return Counter(reason.removeprefix("aftersales:") for reason in reasons)


async def consistent(db: Database) -> list[str]:
    """Each order's flag says whether a case is open on it; with none open, a received or
    closed order has nothing left in escrow (the case's end released it)."""
    found = []
    async with db.transaction(write=False) as session:
        for order in await session.scalars(select(Order)):
            still_open = await queries.open_on_order(session, order.id)
            if order.aftersales_open != bool(still_open):
                found.append(f"order {order.number}: flag {order.aftersales_open}, {still_open}")
            held = await ledger.balance(session, escrow_of(order.id, order.shop_id))
            if not still_open and order.status in ("completed", "closed") and held.amount:
                found.append(f"order {order.number} {order.status}: {held.amount} in escrow")
    return found


async def settle_everything(app: FastAPI) -> None:
    """Whatever the race left queued (refunds to send) sent, so the books are final."""
    await app.state.dispatch_outbox()
    clock.advance(timedelta(minutes=5))
    await jobs.run_due(app.state.db, app.state.runtime.sweeps)


async def test_the_shop_agreeing_while_the_buyer_withdraws(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A refund only before shipment: the shop agrees (the whole order goes back and closes)
    while the buyer withdraws. One wins; the other is told 409 and changes nothing."""
    merchant, product, buyer = await a_shop(app)
    sku = product.skus[0]
    cases, took = [], []
    for _ in range(PAIRS):
        number = await paid(client, merchant, buyer, [(sku, 1)])
        (line,) = await line_ids(client, buyer, number)
        cases.append((await timed(applied(client, buyer, number, line, "refund_only"), took))["id"])
    told = await race(
        [
            (
                as_shop(client, merchant, case_id, "agree"),
                as_buyer(client, buyer, case_id, "withdraw"),
            )
            for case_id in cases
        ],
        spread=head_start(took, PAIRS),
    )
    db: Database = app.state.db
    stored = await cases_by_id(db)
    refunds = await refunds_per_case(db)
    winners: Counter[str] = Counter()
    for case_id, (agreed, withdrawn) in zip(cases, told, strict=True):
        assert sorted([agreed.status_code, withdrawn.status_code]) == [200, 409], (
            agreed.text,
            withdrawn.text,
        )
        if agreed.status_code == 200:
            assert lost(withdrawn), withdrawn.text
            assert (agreed.json()["status"], stored[case_id].status) == ("refunded", "refunded")
            assert refunds[case_id] == 1
            winners["shop"] += 1
        else:
            assert lost(agreed), agreed.text
            assert (withdrawn.json()["status"], stored[case_id].status) == ("closed", "closed")
            assert refunds[case_id] == 0
            winners["buyer"] += 1
    await settle_everything(app)
    assert await problems(db) == []
    assert await consistent(db) == []
    async with db.transaction(write=False) as session:
        statuses = Counter(await session.scalars(select(Order.status)))
    assert statuses == +Counter({"closed": winners["shop"], "paid": winners["buyer"]})
    assert min(winners["shop"], winners["buyer"]) > 0, winners  # both orders occurred


async def test_two_applications_on_one_line_at_once_make_one_case(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A double tap on "apply" (or two devices): one case; the other is told case_open."""
    merchant, product, buyer = await a_shop(app)
    sku = product.skus[0]
    orders = []
    for _ in range(PAIRS):
        number = await shipped(client, merchant, buyer, [(sku, 2)])
        (line,) = await line_ids(client, buyer, number)
        orders.append((number, line))
    told = await race(
        [
            (
                apply(client, buyer, number, line, "refund_only"),
                apply(client, buyer, number, line, "return_refund", 2),
            )
            for number, line in orders
        ]
    )
    for first, second in told:
        assert sorted([first.status_code, second.status_code]) == [201, 409]
        loser = first if first.status_code == 409 else second
        assert loser.json()["error"]["code"] == "case_open", loser.text
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        per_line = Counter(await session.scalars(select(AftersalesCase.order_line_id)))
    assert len(per_line) == PAIRS
    assert set(per_line.values()) == {1}
    assert await problems(db) == []
    assert await consistent(db) == []


async def test_receipt_confirmed_while_the_buyer_withdraws(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The goods arrived during a case: the buyer confirms receipt on one device while
    withdrawing the case on another. Whichever goes first, the money is released once the
    case is gone: receipt skips the release only while a case is open, and the case's end
    releases only an order already received."""
    merchant, product, buyer = await a_shop(app)
    sku = product.skus[0]
    pairs = []
    for _ in range(PAIRS):
        number = await shipped(client, merchant, buyer, [(sku, 1)])
        (line,) = await line_ids(client, buyer, number)
        pairs.append((number, (await applied(client, buyer, number, line, "refund_only"))["id"]))
    told = await race(
        [
            (
                client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=buyer.auth),
                as_buyer(client, buyer, case_id, "withdraw"),
            )
            for number, case_id in pairs
        ]
    )
    for confirmed, withdrawn in told:
        assert confirmed.status_code == 200, confirmed.text
        assert withdrawn.status_code == 200, withdrawn.text
    db: Database = app.state.db
    assert await consistent(db) == []
    assert await problems(db) == []


async def test_the_last_two_cases_of_an_order_ending_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A received order with a case on each of its two lines, its money still in escrow: the
    buyer withdraws one while the shop agrees to the other (a refund). Whichever ends last
    must see none left open, clear the order's flag and release the rest."""
    merchant, product, buyer = await a_shop(app, specs={"颜色": ["红", "蓝"]})
    red, blue = product.sku("红"), product.sku("蓝")
    pairs = []
    for _ in range(PAIRS):
        number = await shipped(client, merchant, buyer, [(red, 1), (blue, 1)])
        first, second = await line_ids(client, buyer, number)
        withdrawing = await applied(client, buyer, number, first, "return_refund")
        refunding = await applied(client, buyer, number, second, "refund_only")
        await confirm_receipt(client, buyer, number)
        pairs.append((withdrawing["id"], refunding["id"]))
    told = await race(
        [
            (
                as_buyer(client, buyer, withdrawing, "withdraw"),
                as_shop(client, merchant, refunding, "agree"),
            )
            for withdrawing, refunding in pairs
        ]
    )
    for withdrawn, agreed in told:
        assert withdrawn.status_code == 200, withdrawn.text
        assert agreed.status_code == 200, agreed.text
        assert agreed.json()["status"] == "refunded"
    db: Database = app.state.db
    assert await consistent(db) == []
    await settle_everything(app)
    assert await problems(db) == []
    assert sum((await refunds_per_case(db)).values()) == PAIRS


async def test_the_shop_confirming_a_return_while_its_timer_refunds_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Ten days after the buyer sent the goods back, the shop confirms their arrival just as
    the timer refunds them for it: one refund, by one of the two."""
    merchant, product, buyer = await a_shop(app)
    await given_an_address(app, merchant)
    sku = product.skus[0]
    cases, took = [], []
    for _ in range(PAIRS):
        number = await shipped(client, merchant, buyer, [(sku, 1)])
        (line,) = await line_ids(client, buyer, number)
        case = await applied(client, buyer, number, line, "return_refund")
        agreed = as_shop(client, merchant, case["id"], "agree", {"return_address": RETURN_ADDRESS})
        await done(timed(agreed, took), "awaiting_return")
        await send_back(client, buyer, case["id"])
        cases.append(case["id"])
    clock.advance(timedelta(days=10, minutes=1))
    db: Database = app.state.db
    ids = {case_id: row.id for case_id, row in (await cases_by_id(db)).items()}

    async def timer(case_id: str) -> bool:
        async with db.transaction() as session:
            return await service.act_on_time(session, app.state.settings, ids[case_id])

    told = await race(
        [(as_shop(client, merchant, case_id, "receive"), timer(case_id)) for case_id in cases],
        spread=head_start(took, PAIRS),
    )
    winners: Counter[str] = Counter()
    for received, by_timer in told:
        if received.status_code == 200:
            assert by_timer is False
            winners["shop"] += 1
        else:
            assert lost(received), received.text
            assert by_timer is True
            winners["timer"] += 1
    refunds = await refunds_per_case(db)
    assert [refunds[case_id] for case_id in cases] == [1] * PAIRS
    stored = await cases_by_id(db)
    assert {stored[case_id].status for case_id in cases} == {"refunded"}
    await settle_everything(app)
    assert await problems(db) == []
    assert await consistent(db) == []
    assert min(winners["shop"], winners["timer"]) > 0, winners
