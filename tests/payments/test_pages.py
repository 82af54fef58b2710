"""The money pages, through forms with cookies and CSRF: a buyer pays an order off to the
sandbox's page and back, and reads the receipt; a merchant refunds from the order's page and
withdraws from the money page. Refused input shows a message and changes nothing; another
buyer or shop is refused."""

import re

import httpx
from fastapi import FastAPI

from tests.commerce import (
    make_buyer,
    make_merchant,
    one_sku_and_buyer,
    order_row,
    ordered,
    pay,
)
from tests.orders.test_store_pages import log_in
from tests.payments.money import balances, held, money_counts, received, settled
from tests.support import csrf_for, csrf_from, other_client, page_alert, tr


async def test_a_buyer_pays_on_the_pages_and_reads_the_receipt(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    page = await client.get(f"/me/orders/{number}")
    assert tr("Pay %(amount)s", amount="¥99.00") in page.text
    paying = await client.post(
        f"/me/orders/{number}/pay", data={"csrf_token": csrf_from(page.text)}
    )
    assert paying.status_code == 303, paying.text
    sandbox_page = paying.headers["location"]
    assert sandbox_page.startswith("/sandbox/pay/")

    shown = await client.get(sandbox_page)
    assert tr("Sandbox") in shown.text
    assert "¥99.00" in shown.text
    pressed = await client.post(f"{sandbox_page}/pay", data={"csrf_token": csrf_from(shown.text)})
    assert pressed.status_code == 303
    back = pressed.headers["location"]
    assert back.startswith(f"http://testserver/me/orders/{number}/return?payment=")
    returned = await client.get(back)
    assert returned.status_code == 303
    assert returned.headers["location"] == f"/me/orders/{number}/paid"
    order = await client.get(f"/me/orders/{number}")
    assert tr("Paid, awaiting shipment") in order.text
    assert tr("Cancel and refund") in order.text
    assert (await order_row(app, number)).status == "paid"

    receipt = await client.get(f"/me/orders/{number}/receipt")
    assert receipt.status_code == 200
    assert "¥99.00" in receipt.text
    assert re.search(r'class="receipt-txn">SB[0-9A-F]{28}<', receipt.text)

    async with other_client(app) as stranger_client:
        stranger = await make_buyer(app)
        await log_in(app, stranger_client, stranger.user)
        assert (await stranger_client.get(f"/me/orders/{number}/receipt")).status_code == 404
        token = await csrf_for(stranger_client, "/me/orders")
        refused = await stranger_client.post(f"/me/orders/{number}/pay", data={"csrf_token": token})
        assert refused.status_code == 404


async def test_what_cannot_be_undone_asks_first_on_the_console(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Refunding and cancelling ask before the form goes (console.js reads data-confirm; the
    browser test answers the question)."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, merchant.user)

    def asks(html: str, message: str) -> bool:
        return f'data-confirm="{tr(message)}"' in html

    unpaid = (await client.get(f"/console/orders/{number}")).text
    assert asks(unpaid, "Cancel this order? This cannot be undone.")
    await pay(app, number)
    paid = (await client.get(f"/console/orders/{number}")).text
    assert asks(paid, "Cancel this order and refund the buyer in full? This cannot be undone.")
    assert asks(paid, "Refund this amount to the buyer? A refund cannot be taken back.")
    # Before receipt, the fee that receipt will charge (0.6% of ¥99.00).
    assert _fee_shown(paid) == ("¥0.59", tr("%(rate)s, charged at receipt", rate="0.6%"))
    assert "/static/console.js" in paid


async def test_a_merchant_refunds_and_withdraws_on_the_console(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 2)
    await log_in(app, client, merchant.user)
    page = await client.get(f"/console/orders/{number}")
    assert tr("Refund (yuan)") in page.text
    assert _fee_shown(page.text) == ("¥1.18", tr("charged at receipt"))

    before = await money_counts(app)
    for typed, status, message in [
        ("abc", 422, tr("Enter an amount in yuan, like 12.50.")),
        ("1000", 409, tr("At most %(left)s can be refunded.", left="¥198.00")),
    ]:
        refused = await client.post(
            f"/console/orders/{number}/refunds",
            data={"amount": typed, "reason": "", "csrf_token": csrf_from(page.text)},
        )
        assert refused.status_code == status
        assert page_alert(refused.text)[1] == message
        assert f'value="{typed}"' in refused.text  # what was typed stays
    assert await money_counts(app) == before

    done = await client.post(
        f"/console/orders/{number}/refunds",
        data={"amount": "10.50", "reason": "少发一个", "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/orders/{number}?done=refunded#money"
    fee = 2 * 9900 * 60 // 10_000
    returned = fee * 1050 // (2 * 9900)
    assert await balances(client, merchant) == held(pending=2 * 9900 - fee - (1050 - returned))

    refunded_page = (await client.get(f"/console/orders/{number}")).text
    assert _fee_shown(refunded_page) == (f"¥{(fee - returned) / 100:.2f}", tr("charged at receipt"))

    await settled(app)
    money = await client.get("/console/finance")
    assert tr("Available") in money.text
    too_much = await client.post(
        "/console/finance/withdraw",
        data={"amount": "100000", "key": "k1", "csrf_token": csrf_from(money.text)},
    )
    # Refused: back to the form (a refresh or Back posts nothing again), the message at the
    # amount with what was typed, once; nothing moved.
    assert too_much.status_code == 303
    assert too_much.headers["location"] == "/console/finance#withdraw"
    shown = await client.get("/console/finance")
    assert page_alert(shown.text)[1] == tr("You can withdraw at most what is available.")
    assert re.search(r'name="amount"[^>]*value="100000"[^>]*aria-invalid="true"', shown.text)
    assert 'role="alert"' not in (await client.get("/console/finance")).text
    assert await balances(client, merchant) == held(available=2 * 9900 - fee - (1050 - returned))
    went = await client.post(
        "/console/finance/withdraw",
        data={"amount": "50", "key": "k2", "csrf_token": csrf_from(money.text)},
    )
    assert went.status_code == 303
    listed = await client.get("/console/finance")
    assert tr("Arrived") in listed.text

    async with other_client(app) as other_console:
        other = await make_merchant(app, "隔壁的店")
        await log_in(app, other_console, other.user)
        token = await csrf_for(other_console, "/console/finance")
        refused = await other_console.post(
            f"/console/orders/{number}/refunds",
            data={"amount": "1", "reason": "", "csrf_token": token},
        )
        assert refused.status_code == 404


def _fee_shown(page: str) -> tuple[str, str]:
    found = re.search(
        r'class="order-fee"><dt>[^<]*</dt><dd>(\S+) <span class="hint">([^<]*)</span>', page
    )
    assert found, "no platform fee on the order page"
    return found[1], found[2]
