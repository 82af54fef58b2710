"""After-sales timers (aftersales.jobs, swept with every other timed job): each acts when it
is due, not a minute before, and once. A shop silent on a refund before shipment agrees
after 48 hours, on anything else after 5 days; a buyer who does not send the return in 7 days
(or answer an offer) is closed; a return the shop does not confirm 10 days after the buyer
sent it is refunded; a refusal leaves 7 days to escalate, then closes. An escalated case has
no timer: an operator decides."""

from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.payments.balances import fee_of
from tests.aftersales.cases import (
    RETURN_ADDRESS,
    applied,
    as_buyer,
    as_shop,
    buyers_view,
    case_counts,
    confirm_receipt,
    decide,
    done,
    given_an_address,
    line_ids,
    make_operator,
    order_of,
    paid,
    received_and_applied,
    refunds_of,
    send_back,
    shipped,
    timeline,
)
from tests.commerce import make_buyer, make_merchant, make_product, one_sku_and_buyer, run_jobs
from tests.payments.invariants import problems
from tests.payments.money import balances, held, received
from tests.support import api_error

PRICE = 9900
MINUTE = timedelta(minutes=1)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def due_in(case: dict[str, Any]) -> timedelta:
    """How long after its last step the case's timer acts (to the second: the clock runs)."""
    left = at(case["due_at"]) - at(case["events"][-1]["at"])
    return timedelta(seconds=round(left.total_seconds()))


async def timers(app: FastAPI) -> int:
    """One round of every sweep; how many cases the after-sales timers moved."""
    return (await run_jobs(app)).get("aftersales_timers", 0)


async def sent_to_the_provider(app: FastAPI) -> None:
    """What a timer queued (a refund) sent, as the outbox's own sweep soon does."""
    await app.state.dispatch_outbox()


async def nothing_yet(app: FastAPI, client: httpx.AsyncClient, buyer: Any, case: Any) -> None:
    """A round of the sweeps moves no case, and this one is as it was."""
    before = await buyers_view(client, buyer, case["id"])
    assert await timers(app) == 0
    assert await buyers_view(client, buyer, case["id"]) == before


async def test_a_shop_silent_48_hours_on_a_refund_before_shipment_refunds_it(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await paid(client, merchant, buyer, [(sku, 1)])
    (line,) = await line_ids(client, buyer, number)
    case = await applied(client, buyer, number, line, "refund_only")
    assert settings.aftersales_silent_unshipped_hours == 48
    assert due_in(case) == timedelta(hours=48)

    clock.advance(timedelta(hours=48) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert (got["status"], got["due_at"]) == ("refunded", None)
    assert timeline(got) == [("requested", "buyer"), ("refunded", "system")]
    assert await refunds_of(client, merchant, number) == [
        (PRICE, "system", f"aftersales:{case['id']}")
    ]
    order = await order_of(client, buyer, number)
    assert (order["status"], order["close_reason"]) == ("closed", "refunded")
    assert await balances(client, merchant) == held(refunding=PRICE)  # out of escrow
    await sent_to_the_provider(app)
    assert await balances(client, merchant) == held()

    # Once: the next rounds find nothing due.
    before = await case_counts(app)
    clock.advance(timedelta(days=30))
    assert await timers(app) == 0
    assert await case_counts(app) == before
    assert await problems(app.state.db) == []


async def test_a_shop_silent_5_days_agrees_a_refund_after_shipment(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await shipped(client, merchant, buyer, [(sku, 1)])
    (line,) = await line_ids(client, buyer, number)
    case = await applied(client, buyer, number, line, "refund_only", reason="not_received")
    assert settings.aftersales_silent_days == 5
    assert due_in(case) == timedelta(days=5)

    clock.advance(timedelta(hours=48))  # the shorter timer is for goods not shipped
    await nothing_yet(app, client, buyer, case)
    clock.advance(timedelta(days=3) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert timeline(got) == [("requested", "buyer"), ("refunded", "system")]
    # Refunded in full before receipt: out of escrow, and the order closes.
    assert await balances(client, merchant) == held(refunding=PRICE)
    await sent_to_the_provider(app)
    assert await balances(client, merchant) == held()
    assert (await order_of(client, buyer, number))["status"] == "closed"
    assert await timers(app) == 0
    assert await problems(app.state.db) == []


async def test_a_shop_silent_5_days_agrees_a_return_to_its_address(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    await given_an_address(app, merchant)
    number = await received(app, client, merchant, buyer, sku, 1)
    (line,) = await line_ids(client, buyer, number)
    case = await applied(client, buyer, number, line, "return_refund")
    clock.advance(timedelta(days=5) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert (got["status"], got["return_address"]) == ("awaiting_return", RETURN_ADDRESS)
    assert timeline(got) == [("requested", "buyer"), ("awaiting_return", "system")]
    # Now the buyer's turn: 7 days to send the goods back.
    assert due_in(got) == timedelta(days=7)
    assert await timers(app) == 0
    assert await refunds_of(client, merchant, number) == []
    assert await problems(app.state.db) == []


async def test_a_silent_shop_that_never_gave_an_address_does_not_send_goods_to_nowhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The 5-day timer agrees a return for a shop that never gave a return address: the
    buyer must not be left awaiting a return with nowhere to send it."""
    _merchant, buyer, _number, case = await received_and_applied(app, client, "return_refund")
    clock.advance(timedelta(days=5))
    await timers(app)
    got = await buyers_view(client, buyer, case["id"])
    if got["status"] == "awaiting_return":
        assert got["return_address"], "the buyer is to send the goods to nowhere"
    assert await problems(app.state.db) == []


async def test_a_buyer_who_does_not_send_the_return_in_7_days_is_closed(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await shipped(client, merchant, buyer, [(sku, 1)])
    (line,) = await line_ids(client, buyer, number)
    case = await applied(client, buyer, number, line, "return_refund")
    await confirm_receipt(client, buyer, number)
    agreed = await done(
        as_shop(client, merchant, case["id"], "agree", {"return_address": RETURN_ADDRESS}),
        "awaiting_return",
    )
    assert settings.aftersales_return_days == 7
    assert due_in(agreed) == timedelta(days=7)
    assert await balances(client, merchant) == held(escrow=PRICE)

    clock.advance(timedelta(days=7) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert (got["status"], got["open"], got["due_at"]) == ("closed", False, None)
    assert timeline(got)[-1] == ("closed", "system")
    # The case's end releases what the receipt left in escrow.
    assert await balances(client, merchant) == held(pending=PRICE - fee_of(PRICE, 60))
    assert (await order_of(client, buyer, number))["aftersales_open"] is False
    api_error(await send_back_late(client, buyer, case["id"]), 409, "invalid_transition")
    assert await timers(app) == 0
    assert await problems(app.state.db) == []


def send_back_late(client: httpx.AsyncClient, buyer: Any, case_id: str) -> Any:
    body = {"carrier": "SF", "tracking_number": "SF9876543210987"}
    return as_buyer(client, buyer, case_id, "return-shipment", body)


async def test_a_return_the_shop_does_not_confirm_in_10_days_is_refunded(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant, buyer, number, case = await received_and_applied(app, client, "return_refund")
    await done(
        as_shop(client, merchant, case["id"], "agree", {"return_address": RETURN_ADDRESS}),
        "awaiting_return",
    )
    clock.advance(timedelta(days=6))  # the buyer takes their time, within the 7 days
    sent = await send_back(client, buyer, case["id"])
    assert settings.aftersales_confirm_days == 10
    assert due_in(sent) == timedelta(days=10)

    clock.advance(timedelta(days=10) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert timeline(got) == [
        ("requested", "buyer"),
        ("awaiting_return", "merchant"),
        ("returning", "buyer"),
        ("refunded", "system"),
    ]
    # 16 days after receipt, past the 7-day window: asked within it, so refunded, out of
    # the shop's available money (settled meanwhile), with the whole fee back.
    assert await refunds_of(client, merchant, number) == [
        (PRICE, "system", f"aftersales:{case['id']}")
    ]
    await sent_to_the_provider(app)
    assert await balances(client, merchant) == held()
    order = await order_of(client, buyer, number)
    assert (order["status"], order["aftersales_open"]) == ("closed", False)
    assert await timers(app) == 0
    assert await problems(app.state.db) == []


async def test_a_refusal_leaves_7_days_to_escalate_then_closes(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs={"颜色": ["红", "蓝"]})
    buyer = await make_buyer(app)
    number = await shipped(client, merchant, buyer, [(made.sku("红"), 1), (made.sku("蓝"), 1)])
    escalating, lapsing = [
        await applied(client, buyer, number, line, "refund_only", reason="quality")
        for line in await line_ids(client, buyer, number)
    ]
    await confirm_receipt(client, buyer, number)
    for case in (escalating, lapsing):
        refused = await done(
            as_shop(client, merchant, case["id"], "refuse", {"reason": "无质量问题"}), "refused"
        )
        assert settings.aftersales_escalate_days == 7
        assert due_in(refused) == timedelta(days=7)

    clock.advance(timedelta(days=7) - MINUTE)
    await nothing_yet(app, client, buyer, lapsing)
    await done(as_buyer(client, buyer, escalating["id"], "escalate", {}), "escalated")
    clock.advance(MINUTE)
    # Due, the sweep not run yet: too late all the same.
    api_error(
        await as_buyer(client, buyer, lapsing["id"], "escalate", {}), 409, "escalation_closed"
    )
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, lapsing["id"])
    assert (got["status"], got["refusal"]) == ("closed", "无质量问题")
    assert timeline(got)[-1] == ("closed", "system")
    api_error(
        await as_buyer(client, buyer, lapsing["id"], "escalate", {}), 409, "invalid_transition"
    )

    # An escalated case waits for an operator, however long.
    clock.advance(timedelta(days=20))
    assert await timers(app) == 0
    assert (await buyers_view(client, buyer, escalating["id"]))["status"] == "escalated"
    assert (await order_of(client, buyer, number))["aftersales_open"] is True
    assert await balances(client, merchant) == held(escrow=2 * PRICE)
    assert await problems(app.state.db) == []

    # Decided 27 days after receipt: asked within the window, so still refunded; the
    # case's end releases the rest.
    await decide(app, await make_operator(app), escalating["id"], refund=True, note="退款")
    assert (await buyers_view(client, buyer, escalating["id"]))["status"] == "refunded"
    assert await balances(client, merchant) == held(pending=PRICE - fee_of(PRICE, 60))
    assert await problems(app.state.db) == []


async def test_an_offer_the_buyer_does_not_answer_in_7_days_closes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, number, case = await received_and_applied(app, client, "refund_only")
    offered = await done(
        as_shop(client, merchant, case["id"], "propose", {"amount": 5000}), "proposed"
    )
    assert due_in(offered) == timedelta(days=7)
    clock.advance(timedelta(days=7) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert timeline(got) == [("requested", "buyer"), ("proposed", "merchant"), ("closed", "system")]
    assert await refunds_of(client, merchant, number) == []
    assert await timers(app) == 0
    assert await problems(app.state.db) == []


async def test_declining_an_offer_gives_the_shop_its_time_anew(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, _number, case = await received_and_applied(app, client, "refund_only")
    clock.advance(timedelta(days=4))
    await done(as_shop(client, merchant, case["id"], "propose", {"amount": 5000}), "proposed")
    clock.advance(timedelta(days=2))
    declined = await done(as_buyer(client, buyer, case["id"], "decline"), "requested")
    assert due_in(declined) == timedelta(days=5)
    # Past the first request's 5 days, not the new ones.
    clock.advance(timedelta(days=5) - MINUTE)
    await nothing_yet(app, client, buyer, case)
    clock.advance(MINUTE)
    assert await timers(app) == 1
    got = await buyers_view(client, buyer, case["id"])
    assert (got["status"], got["amount"]) == ("refunded", PRICE)
    assert timeline(got)[-1] == ("refunded", "system")
    assert await problems(app.state.db) == []


async def test_auto_confirmed_receipt_during_a_case_waits_for_its_end(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Receipt auto-confirms 10 days after shipping while the return is under way: the
    money stays in escrow until the case ends (here: the buyer never sent the goods)."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    await given_an_address(app, merchant)
    number = await shipped(client, merchant, buyer, [(sku, 1)])
    (line,) = await line_ids(client, buyer, number)
    case = await applied(client, buyer, number, line, "return_refund")
    clock.advance(timedelta(days=5))
    assert await timers(app) == 1  # agreed for the silent shop: due in 7 more days
    assert (await buyers_view(client, buyer, case["id"]))["status"] == "awaiting_return"

    clock.advance(timedelta(days=5, minutes=1))
    done_jobs = await run_jobs(app)
    assert "aftersales_timers" not in done_jobs
    order = await order_of(client, buyer, number)
    assert (order["status"], order["aftersales_open"]) == ("completed", True)
    assert await balances(client, merchant) == held(escrow=PRICE)
    assert await problems(app.state.db) == []

    clock.advance(timedelta(days=2))
    assert await timers(app) == 1
    assert (await buyers_view(client, buyer, case["id"]))["status"] == "closed"
    assert await balances(client, merchant) == held(pending=PRICE - fee_of(PRICE, 60))
    assert await problems(app.state.db) == []
